"""The one door to Stripe: the official SDK behind a small interface.

Built once per process (in `open_context`) from Settings: its own `StripeClient` (never the
global `stripe.api_key`), an async httpx transport with a timeout, and the configurable API
base, so the same code talks to api.stripe.com or to the emulator. Every SDK failure leaves as
`BadGateway` (502) with a message fit for the client; the details go to the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe
import structlog

from medgrader.config import Settings
from medgrader.core.errors import BadGateway

log = structlog.get_logger(__name__)


class StripeUnavailable(BadGateway):
    code, message = "stripe_unavailable", "The payment provider could not be reached; try again."


class StripeRefused(BadGateway):
    code, message = "stripe_error", "The payment provider refused the request; try again later."


@dataclass(frozen=True)
class CreatedSession:
    id: str
    url: str
    expires_at: datetime


def _translate(exc: stripe.StripeError, action: str) -> BadGateway:
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
    return StripeRefused()


class StripeGateway:
    """What this product asks of Stripe, and nothing more."""

    def __init__(self, settings: Settings) -> None:
        secret = settings.stripe_secret_key.get_secret_value() if settings.stripe_secret_key else ""
        self._http = stripe.HTTPXClient(timeout=settings.stripe_timeout_seconds)
        self._client = stripe.StripeClient(
            # An empty key would make the SDK refuse at construction; a placeholder makes every
            # call fail with a clear 502 instead (production refuses to start without a key).
            secret or "sk_missing",
            base_addresses={"api": settings.stripe_api_base.rstrip("/")},
            http_client=self._http,
            # Retries connection errors, 409s (an in-flight request with the same
            # Idempotency-Key) and 5xx; POSTs carry idempotency keys, so a retry is safe.
            max_network_retries=2,
        )

    async def close(self) -> None:
        await self._http.close_async()

    async def create_customer(
        self, *, student_id: str, email: str, name: str, idempotency_key: str
    ) -> str:
        try:
            customer = await self._client.v1.customers.create_async(
                params={"email": email, "name": name, "metadata": {"student_id": student_id}},
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise _translate(exc, "create_customer") from exc
        return str(customer.id)

    async def create_checkout_session(self, params: dict[str, Any]) -> CreatedSession:
        try:
            session = await self._client.v1.checkout.sessions.create_async(params=params)  # type: ignore[arg-type]
        except stripe.StripeError as exc:
            raise _translate(exc, "create_checkout_session") from exc
        return CreatedSession(
            id=str(session.id),
            url=str(session.url),
            expires_at=datetime.fromtimestamp(int(session.expires_at), UTC),
        )

    async def retrieve_checkout_session(self, session_id: str) -> dict[str, Any]:
        """The session as plain data (the same shape a webhook's data.object has)."""
        try:
            session = await self._client.v1.checkout.sessions.retrieve_async(session_id)
        except stripe.StripeError as exc:
            raise _translate(exc, "retrieve_checkout_session") from exc
        return session.to_dict()
