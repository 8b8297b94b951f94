"""The ``payment_method`` object: a card (with Stripe's ``card`` hash) or a bank debit.

A card's ``fingerprint`` is the same for every PaymentMethod of the same card number, as
on Stripe, so an integration can tell a new card from the same card saved again.
"""

from __future__ import annotations

from typing import Any

from stripe_emulator.cards import DEFAULT_EXPIRY, TestCard
from stripe_emulator.ids import new_id
from stripe_emulator.objects.common import empty_address

__all__ = ["DEFAULT_EXPIRY", "billing_details", "build_payment_method", "card_checks", "card_hash"]


def card_checks() -> dict[str, Any]:
    """A card's ``checks``: the CVC typed passed; no address was asked for."""
    return {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"}


def card_hash(card: TestCard, exp_month: int, exp_year: int) -> dict[str, Any]:
    """``payment_method.card`` (the charge's ``payment_method_details.card`` differs)."""
    return {
        "brand": card.brand,
        "checks": card_checks(),
        "country": card.country,
        "display_brand": card.brand,
        "exp_month": exp_month,
        "exp_year": exp_year,
        "fingerprint": card.fingerprint,
        "funding": card.funding,
        "generated_from": None,
        "last4": card.last4,
        "networks": {"available": [card.brand], "preferred": None},
        "regulated_status": "unregulated",
        "three_d_secure_usage": {"supported": True},
        "wallet": None,
    }


def build_payment_method(
    *,
    created: int,
    method_type: str,
    details: dict[str, Any],
    customer: str | None,
    email: str | None,
    name: str | None,
) -> dict[str, Any]:
    return {
        "id": new_id("pm_"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": billing_details(email, name),
        "created": created,
        "customer": customer,
        "customer_account": None,
        "livemode": False,
        "metadata": {},
        "type": method_type,
        method_type: details,
    }


def billing_details(email: str | None, name: str | None) -> dict[str, Any]:
    return {
        "address": empty_address(country="GB"),
        "email": email,
        "name": name,
        "phone": None,
        "tax_id": None,
    }
