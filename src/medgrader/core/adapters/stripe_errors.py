"""What a failed Stripe call becomes: one `BadGateway` (502) subclass per kind of failure, with
a message fit for the client; the SDK's details go to the log (`translate_stripe_error`).
Callers that can act on a failure (a missing Customer, a refused refund) catch its class."""

from __future__ import annotations

import stripe
import structlog

from medgrader.core.errors import BadGateway

log = structlog.get_logger(__name__)


class StripeUnavailable(BadGateway):
    code, message = "stripe_unavailable", "The payment provider could not be reached; try again."


class StripeRefused(BadGateway):
    code, message = "stripe_error", "The payment provider refused the request; try again later."


class StripeObjectMissing(BadGateway):
    """Stripe answered that an object we named does not exist (resource_missing)."""

    code, message = "stripe_object_missing", "The payment provider does not know this object."


class StripeRefundRefused(BadGateway):
    """Stripe refused a refund for a reason of its own (already refunded, disputed...): the
    `stripe_code` says which; the caller turns the known ones into a 409/422."""

    code, message = "stripe_refund_refused", "The payment provider refused the refund."

    def __init__(self, stripe_code: str | None) -> None:
        super().__init__()
        self.stripe_code = stripe_code


class CustomerMissing(StripeObjectMissing):
    """Stripe says the Customer we named does not exist (deleted in the Dashboard, or an
    emulator that forgot it). Callers that can create a new Customer catch this; to others it
    is a 502 like any refusal."""


def translate_stripe_error(exc: stripe.StripeError, action: str) -> BadGateway:
    """Log what Stripe said (the details stay in the log) and give the caller the 502 that
    fits, with a message fit for the client."""
    log.error(
        "stripe call failed",
        action=action,
        error_type=type(exc).__name__,
        http_status=exc.http_status,
        stripe_code=exc.code,
        detail=exc.user_message,
        request_id=exc.request_id,
    )
    if isinstance(exc, stripe.APIConnectionError):
        return StripeUnavailable()
    if isinstance(exc, stripe.InvalidRequestError) and exc.code == "resource_missing":
        return StripeObjectMissing()
    return StripeRefused()
