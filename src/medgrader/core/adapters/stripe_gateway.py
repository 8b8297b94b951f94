"""The one door to Stripe: the official SDK behind a small interface.

Built once per process (in `open_context`) from Settings: its own `StripeClient` (never the
global `stripe.api_key`), an async httpx transport with a timeout, and the configurable API
base, so the same code talks to api.stripe.com or to the emulator. Tests may hand it the SDK's
HTTP client instead (`http_client`, a `stripe.HTTPClient`): the in-process test tier routes the
SDK to the emulator's ASGI app that way, with no socket; production never passes one. Every SDK
failure leaves as `BadGateway` (502) with a message fit for the client; the details go to the
log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe
import structlog

from medgrader.config import Settings
from medgrader.core.adapters.stripe_errors import (
    CustomerMissing,
    StripeRefundRefused,
    translate_stripe_error,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CreatedSession:
    id: str
    url: str
    expires_at: datetime


class StripeGateway:
    """What this product asks of Stripe, and nothing more."""

    def __init__(self, settings: Settings, http_client: stripe.HTTPClient | None = None) -> None:
        secret = settings.stripe_secret_key.get_secret_value() if settings.stripe_secret_key else ""
        # An injected client belongs to whoever injected it: close() leaves it open.
        self._owns_http = http_client is None
        self._http = http_client or stripe.HTTPXClient(timeout=settings.stripe_timeout_seconds)
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
        if self._owns_http:
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
            raise translate_stripe_error(exc, "create_customer") from exc
        return str(customer.id)

    async def create_coupon(
        self, *, amount_off: int, currency: str, name: str, idempotency_key: str
    ) -> str:
        """A one-use coupon of exactly `amount_off` minor units (a promotion's discount on one
        Checkout Session, computed by us: Stripe then takes off exactly what we recorded)."""
        try:
            coupon = await self._client.v1.coupons.create_async(
                params={
                    "amount_off": amount_off,
                    "currency": currency,
                    "duration": "once",
                    "max_redemptions": 1,
                    "name": name,
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise translate_stripe_error(exc, "create_coupon") from exc
        return str(coupon.id)

    async def create_checkout_session(self, params: dict[str, Any]) -> CreatedSession:
        try:
            session = await self._client.v1.checkout.sessions.create_async(params=params)  # type: ignore[arg-type]
        except stripe.InvalidRequestError as exc:
            if exc.code == "resource_missing" and exc.param == "customer":
                log.warning("stripe customer does not exist", customer=params.get("customer"))
                raise CustomerMissing() from exc
            raise translate_stripe_error(exc, "create_checkout_session") from exc
        except stripe.StripeError as exc:
            raise translate_stripe_error(exc, "create_checkout_session") from exc
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
            raise translate_stripe_error(exc, "retrieve_checkout_session") from exc
        return session.to_dict()

    async def create_refund(
        self,
        *,
        payment_intent: str,
        amount: int,
        reason: str | None,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> dict[str, Any]:
        """Refund `amount` pence of the payment; Stripe's refund as plain data.

        Stripe's own refusals (charge_already_refunded, amount_too_large, charge_disputed...)
        leave as StripeRefundRefused carrying Stripe's code; transport trouble as 502.
        """
        params: dict[str, Any] = {
            "payment_intent": payment_intent,
            "amount": amount,
            "metadata": metadata,
        }
        if reason:
            params["reason"] = reason
        try:
            refund = await self._client.v1.refunds.create_async(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        except stripe.InvalidRequestError as exc:
            translate_stripe_error(exc, "create_refund")
            raise StripeRefundRefused(exc.code) from exc
        except stripe.StripeError as exc:
            raise translate_stripe_error(exc, "create_refund") from exc
        return refund.to_dict()

    async def latest_charge(self, payment_intent: str) -> str | None:
        """The id of the payment intent's latest charge (None while it has none)."""
        try:
            intent = await self._client.v1.payment_intents.retrieve_async(payment_intent)
        except stripe.StripeError as exc:
            raise translate_stripe_error(exc, "latest_charge") from exc
        charge = intent.to_dict().get("latest_charge")
        if isinstance(charge, dict):  # expanded
            charge = charge.get("id")
        return charge if isinstance(charge, str) and charge else None

    async def sessions_for_intent(self, payment_intent: str) -> list[dict[str, Any]]:
        """The Checkout Sessions that created this payment intent (one, for ours)."""
        try:
            listed = await self._client.v1.checkout.sessions.list_async(
                params={"payment_intent": payment_intent, "limit": 10}
            )
        except stripe.StripeError as exc:
            raise translate_stripe_error(exc, "sessions_for_intent") from exc
        return [session.to_dict() for session in listed.data]

    async def payment_returns(
        self, payment_intent: str
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Every refund and dispute Stripe has now for the payment intent (all pages)."""
        try:
            refunds = await self._client.v1.refunds.list_async(
                params={"payment_intent": payment_intent, "limit": 100}
            )
            disputes = await self._client.v1.disputes.list_async(
                params={"payment_intent": payment_intent, "limit": 100}
            )
            found_refunds = [r.to_dict() async for r in refunds.auto_paging_iter()]
            found_disputes = [d.to_dict() async for d in disputes.auto_paging_iter()]
        except stripe.StripeError as exc:
            raise translate_stripe_error(exc, "payment_returns") from exc
        return found_refunds, found_disputes

    # -- billing: plans, subscriptions, invoices, the portal (the subscriptions issue) ------
    async def _call(self, action: str, call: Any) -> Any:
        """Await one SDK call; its failure leaves as the gateway's BadGateway."""
        try:
            return await call
        except stripe.StripeError as exc:
            raise translate_stripe_error(exc, action) from exc

    async def create_plan_price(
        self,
        *,
        name: str,
        description: str | None,
        unit_amount: int,
        interval: str,
        idempotency_key: str,
    ) -> tuple[str, str]:
        """A Product with its recurring GBP Price; (product id, price id)."""
        price_data = {"currency": "gbp", "unit_amount": unit_amount,
                      "recurring": {"interval": interval}}  # fmt: skip
        params: dict[str, Any] = {"name": name, "default_price_data": price_data}
        if description:
            params["description"] = description
        options: Any = {"idempotency_key": idempotency_key}
        products = self._client.v1.products
        product = await self._call(
            "create_plan_price", products.create_async(params=params, options=options)
        )
        price = product.default_price
        return str(product.id), str(price if isinstance(price, str) else price.id)

    async def create_price(
        self, *, product: str, unit_amount: int, interval: str, idempotency_key: str
    ) -> str:
        """Another recurring GBP Price of the product (a plan's price before anyone subscribed)."""
        params: Any = {"product": product, "currency": "gbp", "unit_amount": unit_amount,
                       "recurring": {"interval": interval}}  # fmt: skip
        options: Any = {"idempotency_key": idempotency_key}
        prices = self._client.v1.prices
        price = await self._call(
            "create_price", prices.create_async(params=params, options=options)
        )
        return str(price.id)

    async def update_product(self, product: str, params: dict[str, Any]) -> None:
        products = self._client.v1.products
        await self._call("update_product", products.update_async(product, params=params))  # type: ignore[arg-type]

    async def set_plan_active(self, *, product: str, price: str, active: bool) -> None:
        """A plan's Price and Product (in)active: an inactive Price sells no new subscription,
        those that bill it keep renewing. The Product is reactivated before its Price."""
        prices, products = self._client.v1.prices, self._client.v1.products
        params: Any = {"active": active}
        if active:
            await self._call("set_plan_active", products.update_async(product, params=params))
        await self._call("set_plan_active", prices.update_async(price, params=params))
        if not active:
            await self._call("set_plan_active", products.update_async(product, params=params))

    async def retrieve_subscription(self, subscription: str) -> dict[str, Any]:
        subscriptions = self._client.v1.subscriptions
        found = await self._call(
            "retrieve_subscription", subscriptions.retrieve_async(subscription)
        )
        return found.to_dict()  # type: ignore[no-any-return]

    async def update_subscription(
        self, subscription: str, params: dict[str, Any], idempotency_key: str
    ) -> dict[str, Any]:
        options: Any = {"idempotency_key": idempotency_key}
        subscriptions = self._client.v1.subscriptions
        updated = await self._call(
            "update_subscription",
            subscriptions.update_async(subscription, params=params, options=options),  # type: ignore[arg-type]
        )
        return updated.to_dict()  # type: ignore[no-any-return]

    async def retrieve_invoice(self, invoice: str) -> dict[str, Any]:
        """The invoice with its payments (their PaymentIntents), as plain data."""
        invoices = self._client.v1.invoices
        found = await self._call(
            "retrieve_invoice", invoices.retrieve_async(invoice, params={"expand": ["payments"]})
        )
        return found.to_dict()  # type: ignore[no-any-return]

    async def paid_invoices(self, subscription: str) -> list[dict[str, Any]]:
        """Every paid invoice of the subscription (all pages), with their payments."""
        params: Any = {"subscription": subscription, "status": "paid", "limit": 100,
                       "expand": ["data.payments"]}  # fmt: skip
        listed = await self._call("paid_invoices", self._client.v1.invoices.list_async(params))
        try:
            return [invoice.to_dict() async for invoice in listed.auto_paging_iter()]
        except stripe.StripeError as exc:
            raise translate_stripe_error(exc, "paid_invoices") from exc

    async def create_portal_session(self, *, customer: str, return_url: str) -> str:
        """A Billing Portal session's URL."""
        sessions = self._client.v1.billing_portal.sessions
        params: Any = {"customer": customer, "return_url": return_url}
        portal = await self._call("create_portal_session", sessions.create_async(params=params))
        return str(portal.url)

    async def schedule_price_at_renewal(
        self, *, subscription: str, schedule: str | None, price: str
    ) -> str:
        """The subscription bills `price` from its next renewal on (no proration; another
        interval starts a new billing cycle there), through a subscription schedule: made
        from the subscription if it has none, its current phase kept as it is. The schedule
        releases the subscription once that period is over. Returns the schedule's id."""
        schedules = self._client.v1.subscription_schedules
        if schedule is None:
            params: Any = {"from_subscription": subscription}
            found = await self._call("create_schedule", schedules.create_async(params=params))
        else:
            found = await self._call("retrieve_schedule", schedules.retrieve_async(schedule))
        current = found.current_phase
        phase = next(p for p in found.phases if p.start_date == current.start_date)
        current_price = phase["items"][0]["price"]
        current_price = current_price if isinstance(current_price, str) else current_price.id
        params = {
            "phases": [
                {"items": [{"price": current_price, "quantity": 1}],
                 "start_date": current.start_date, "end_date": current.end_date},
                {"items": [{"price": price, "quantity": 1}]},
            ],
            "end_behavior": "release",
            "proration_behavior": "none",
        }  # fmt: skip
        await self._call("update_schedule", schedules.update_async(found.id, params=params))
        return str(found.id)

    async def release_schedule(self, schedule: str) -> None:
        """The subscription goes on as it is now: a pending plan change is dropped."""
        schedules = self._client.v1.subscription_schedules
        await self._call("release_schedule", schedules.release_async(schedule))

    # -- saved cards and off-session charges (automatic top-up) -----------------------------
    async def list_cards(self, customer: str) -> list[dict[str, Any]]:
        """The Customer's saved cards (Stripe's PaymentMethods, newest first)."""
        try:
            listed = await self._client.v1.payment_methods.list_async(
                params={"customer": customer, "type": "card", "limit": 100}
            )
        except stripe.StripeError as exc:
            raise translate_stripe_error(exc, "list_cards") from exc
        return [method.to_dict() for method in listed.data]

    async def detach_card(self, payment_method: str) -> dict[str, Any]:
        try:
            method = await self._client.v1.payment_methods.detach_async(payment_method)
        except stripe.StripeError as exc:
            raise translate_stripe_error(exc, "detach_card") from exc
        return method.to_dict()

    async def retrieve_setup_intent(self, setup_intent: str) -> dict[str, Any]:
        """The SetupIntent with its PaymentMethod expanded (the card a setup Checkout saved)."""
        try:
            intent = await self._client.v1.setup_intents.retrieve_async(
                setup_intent, params={"expand": ["payment_method"]}
            )
        except stripe.StripeError as exc:
            raise translate_stripe_error(exc, "retrieve_setup_intent") from exc
        return intent.to_dict()

    async def retrieve_payment_intent(self, payment_intent: str) -> dict[str, Any]:
        try:
            intent = await self._client.v1.payment_intents.retrieve_async(payment_intent)
        except stripe.StripeError as exc:
            raise translate_stripe_error(exc, "retrieve_payment_intent") from exc
        return intent.to_dict()

    async def charge_saved_card(
        self, params: dict[str, Any], *, idempotency_key: str
    ) -> OffSessionAnswer:
        """Create and confirm an off-session PaymentIntent. A decline is an answer (Stripe's
        `card_error`: its code, decline code and the intent), not an exception; transport
        trouble and other refusals leave as BadGateway, and then Stripe may or may not have
        charged: the caller asks again under the same key."""
        try:
            intent = await self._client.v1.payment_intents.create_async(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        except stripe.CardError as exc:
            error = (exc.json_body or {}).get("error") or {}
            declined = error.get("payment_intent")
            log.info("off-session charge declined", stripe_code=exc.code,
                     decline_code=error.get("decline_code"))  # fmt: skip
            return OffSessionAnswer(
                intent=declined if isinstance(declined, dict) else None,
                error_code=exc.code or "card_declined",
                decline_code=error.get("decline_code"),
                message=exc.user_message or str(error.get("message") or "")[:500] or None,
            )
        except stripe.StripeError as exc:
            raise translate_stripe_error(exc, "charge_saved_card") from exc
        return OffSessionAnswer(intent=intent.to_dict())


@dataclass(frozen=True)
class OffSessionAnswer:
    """Stripe's answer to an off-session charge: the intent, and a decline's codes if any."""

    intent: dict[str, Any] | None
    error_code: str | None = None
    decline_code: str | None = None
    message: str | None = None
