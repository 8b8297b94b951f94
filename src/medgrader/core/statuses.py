"""THE table from a refusal's machine code to its HTTP status, for the JSON API and the pages.

A code has one status everywhere: `insufficient_credits` is 402 for a spend and a hold alike;
an admin adjustment that the balance does not cover is its own code
(`adjustment_exceeds_balance`, 409). Each code belongs to one refusal class (core.errors), in
the domain that owns the rule; the table is keyed by the code strings so that this module, and
the error handlers that read it, import no domain. tests/core/test_core_statuses.py checks that
every class's code is here and that every code here has a class.
"""

from __future__ import annotations

from typing import Any

STATUS_BY_CODE: dict[str, int] = {
    # Generic (core.errors) and shared machinery
    "bad_request": 400,
    "invalid_cursor": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "validation_error": 422,
    "rate_limited": 429,
    "upstream_error": 502,
    "service_unavailable": 503,
    # The Idempotency-Key (idempotency)
    "idempotency_key_required": 400,
    "invalid_idempotency_key": 400,
    "idempotency_key_reused": 409,
    "request_in_progress": 409,
    # Accounts (auth, web)
    "invalid_otp": 400,
    "invalid_credentials": 401,
    "invalid_token": 401,
    "invalid_google_token": 401,
    "student_only": 403,
    "admin_only": 403,
    "email_not_verified": 403,
    "csrf_failed": 403,
    "google_sign_in_disabled": 404,
    "google_account_conflict": 409,
    "email_unavailable": 503,
    "google_unavailable": 503,
    # Credits, holds and adjustments (ledger, credits, holds, admin)
    "insufficient_credits": 402,
    "student_not_found": 404,
    "hold_not_found": 404,
    "hold_expired": 409,
    "hold_closed": 409,
    "too_many_holds": 409,
    "hold_lifetime_exceeded": 409,
    "adjustment_exceeds_balance": 409,
    "amount_exceeds_hold": 422,
    "hold_too_large": 422,
    # The catalogue and checkout
    "package_not_found": 404,
    "checkout_session_not_found": 404,
    "package_name_taken": 409,
    "package_inactive": 409,
    # Plans and subscriptions (subscriptions)
    "plan_not_found": 404,
    "plan_name_taken": 409,
    "plan_in_use": 409,
    "plan_not_available": 422,
    "already_subscribed": 409,
    "no_subscription": 404,
    "subscription_not_active": 409,
    "plan_unchanged": 422,
    # Promotions (promotions)
    "no_such_promotion": 404,
    "promotion_code_taken": 409,
    "promotion_auto_apply_taken": 409,
    "promotion_limit_below_uses": 409,
    "promotion_not_found": 422,
    "promotion_not_applicable": 422,
    "promotion_exhausted": 422,
    "promotion_already_used": 422,
    "first_purchase_only": 422,
    # Saved cards and automatic top-up (topups)
    "payment_method_not_found": 404,
    "top_up_attempt_not_found": 404,
    "no_saved_card": 409,
    "top_up_not_recoverable": 409,
    "top_up_package_inactive": 422,
    "monthly_limit_below_price": 422,
    # Payments, refunds, Stripe
    "payment_not_found": 404,
    "payment_disputed": 409,
    "credits_already_spent": 409,
    "payment_not_refundable": 409,
    "amount_not_refundable": 422,
    "stripe_unavailable": 502,
    "stripe_error": 502,
    "stripe_object_missing": 502,
    "stripe_refund_refused": 502,
    # VAT documents and billing details
    "document_not_found": 404,
    "billing_details_not_found": 404,
    "invalid_vat_number": 422,
    # The webhook inbox and the figures
    "webhook_event_not_found": 404,
    "already_processed": 409,
    "invalid_range": 422,
}


def status_of(error: Any) -> int:
    """The HTTP status of a refusal (anything with a `code`); 500 for a code the table lacks,
    which the table's test makes impossible."""
    return STATUS_BY_CODE.get(str(error.code), 500)
