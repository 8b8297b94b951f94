"""The refusals of the documents domain (their statuses: core.statuses)."""

from __future__ import annotations

from medgrader.core.errors import NotFound, Refusal


class DocumentNotFound(NotFound):
    """No such document, or not yours (404 either way: another's numbers reveal nothing)."""

    code, message = "document_not_found", "No such document."


class InvalidVatNumber(Refusal):
    code, message = "invalid_vat_number", "A UK VAT number is GB followed by 9 or 12 digits."


class BillingDetailsNotFound(NotFound):
    code, message = "billing_details_not_found", "No billing details given yet."
