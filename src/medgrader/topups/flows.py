"""The edge's side of saved cards and automatic top-up around their Stripe calls.

Read in the unit of work's current transaction, call Stripe in `external_call` (no connection
held), write in the next transaction, as checkout.flows does. The charge of an attempt:

1. the attempt is locked and marked PROCESSING (or canceled, if its setting or card went away
   before Stripe was asked) and committed;
2. Stripe is asked to create and confirm the off-session PaymentIntent under the idempotency
   key `medgrader-top-up-<attempt id>`: asked again (a retried job, reconciliation after a
   timeout), Stripe answers what it did the first time and never charges twice;
3. the answer is applied by the one settlement function (topups.charging). A timeout leaves
   the attempt PROCESSING: the webhook or reconciliation settles it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from medgrader.auth.users import User
from medgrader.checkout import answers as checkout_answers
from medgrader.checkout import flows as checkout_flows
from medgrader.checkout import service as checkout
from medgrader.checkout.schemas import CheckoutCreated
from medgrader.core import metrics
from medgrader.core.adapters.stripe_gateway import OffSessionAnswer
from medgrader.core.context import AppContext
from medgrader.db.session import Db
from medgrader.db.transactions import external_call
from medgrader.models.topups import AttemptStatus
from medgrader.security import limits, rules
from medgrader.topups import charging, repository, service
from medgrader.topups.errors import PaymentMethodNotFound, TopUpAttemptNotFound, TopUpNotRecoverable
from medgrader.topups.schemas import AutoTopUpIn, AutoTopUpOut, PaymentMethodOut, SetupCreated

log = structlog.get_logger(__name__)

# Stripe keeps an idempotency key for 24 hours: past this age an attempt whose outcome we
# never learnt is not asked about again under its key (that could charge anew); a person
# decides (ALERT).
REASK_WITHIN = timedelta(hours=23)


def idempotency_key(attempt_id: uuid.UUID) -> str:
    return f"medgrader-top-up-{attempt_id}"


# -- saved cards ------------------------------------------------------------------------------
def _setup_params(
    ctx: AppContext, user: User, customer_id: str, plan: Any, expires_at: datetime
) -> dict[str, Any]:
    frontend = ctx.settings.frontend_url.rstrip("/")
    return {
        "mode": "setup",
        "currency": "gbp",
        "customer": customer_id,
        "client_reference_id": str(user.id),
        "metadata": {"student_id": str(user.id), "purpose": "auto_top_up_card"},
        "setup_intent_data": {"metadata": {"student_id": str(user.id)}},
        "success_url": f"{frontend}/wallet?card=saved",
        "cancel_url": f"{frontend}/wallet",
        "expires_at": int(expires_at.timestamp()),
    }


async def start_card_setup(db: Db, ctx: AppContext, user: User) -> SetupCreated:
    """A Checkout in setup mode that saves a card without buying anything."""
    await limits.hit(db, ctx, *rules.checkout(ctx.settings, user.id))
    plan = await checkout.prepare_customer(db, user)
    async with external_call(db):
        opened = await checkout.open_at_stripe(ctx, user, plan, build=_setup_params)
    await checkout.store_customer(db, user, opened)
    return SetupCreated(session_url=opened.session.url, session_id=opened.session.id)


async def _cards(db: Db, ctx: AppContext, student_id: uuid.UUID) -> list[dict[str, Any]]:
    customer = await repository.customer_of(db, student_id)
    if customer is None:
        return []
    async with external_call(db):
        return await ctx.stripe.list_cards(customer)


async def list_cards(db: Db, ctx: AppContext, user: User) -> list[PaymentMethodOut]:
    return [service.card_out(card) for card in await _cards(db, ctx, user.id)]


async def remove_card(db: Db, ctx: AppContext, user: User, payment_method_id: str) -> None:
    """Detach the student's card at Stripe (another student's: 404, nothing asked), then turn
    automatic top-up off if it charged that card."""
    cards = await _cards(db, ctx, user.id)
    if not any(card.get("id") == payment_method_id for card in cards):
        raise PaymentMethodNotFound()
    async with external_call(db):
        await ctx.stripe.detach_card(payment_method_id)
    await service.forget_card(db, payment_method_id)


# -- settings ---------------------------------------------------------------------------------
async def put_settings(db: Db, ctx: AppContext, user: User, body: AutoTopUpIn) -> AutoTopUpOut:
    await service.check_settings(db, body)
    card = None
    if body.enabled or body.payment_method_id is not None:
        card = service.choose_card(await _cards(db, ctx, user.id), body.payment_method_id)
    await service.save_settings(db, user.id, body, card)
    return await service.settings_out(db, user.id)


# -- charging an attempt ----------------------------------------------------------------------
def _charge_params(row: Any) -> dict[str, Any]:
    return {
        "amount": row.amount_pence,
        "currency": row.currency.lower(),
        "customer": row.stripe_customer_id,
        "payment_method": row.payment_method_id,
        "off_session": True,
        "confirm": True,
        "description": f"Automatic top-up: {row.package_name}",
        "metadata": {
            charging.METADATA_KEY: str(row.id),
            "student_id": str(row.student_id),
            "package_id": str(row.package_id),
        },
    }


async def _claim(db: Db, attempt_id: uuid.UUID) -> Any | None:
    """The attempt to charge, marked PROCESSING; None when there is nothing to charge."""
    row = await repository.lock_attempt(db, attempt_id)
    if row is None or row.status not in (AttemptStatus.QUEUED, AttemptStatus.PROCESSING):
        return None
    if row.status == AttemptStatus.QUEUED:
        settings = await repository.settings_of(db, row.student_id)
        if (
            settings is None
            or not settings.enabled
            or settings.suspended_at is not None
            or settings.payment_method_id != row.payment_method_id
            or row.stripe_customer_id is None
        ):
            # Never asked Stripe: nothing was charged, the attempt simply ends.
            await repository.cancel(db, row.id, "settings_changed")
            metrics.TOP_UP_ATTEMPTS.labels(outcome="canceled", reason="settings_changed").inc()
            return None
        await repository.mark_processing(db, row.id)
    elif datetime.now(UTC) - row.created_at > REASK_WITHIN:
        log.error("ALERT automatic top-up attempt unsettled past Stripe's idempotency window",
                  alert="top_up_unsettled", attempt_id=str(row.id))  # fmt: skip
        return None
    return row


async def charge_attempt(db: Db, ctx: AppContext, attempt_id: uuid.UUID) -> charging.Settled:
    """Charge (or ask again about) one attempt and settle it. Stripe's trouble leaves it
    PROCESSING (raised to the caller, after the claim committed)."""
    row = await _claim(db, attempt_id)
    if row is None:
        return charging.Settled("nothing_to_charge")
    async with external_call(db):
        answer: OffSessionAnswer = await ctx.stripe.charge_saved_card(
            _charge_params(row), idempotency_key=idempotency_key(row.id)
        )
    if answer.error_code is not None:
        intent_id = answer.intent.get("id") if answer.intent else None
        return await charging.apply_decline(
            db,
            row.id,
            code=answer.error_code,
            decline=answer.decline_code,
            message=answer.message,
            intent_id=intent_id,
        )
    assert answer.intent is not None
    return await charging.apply_intent(db, row.id, answer.intent)


async def reconcile_attempt(db: Db, ctx: AppContext, attempt_id: uuid.UUID) -> charging.Settled:
    """An attempt left in flight: its intent asked about if we know it, else the charge sent
    again under the same key (Stripe replays its first answer)."""
    row = await repository.attempt(db, attempt_id)
    if row is None or row.status not in (AttemptStatus.QUEUED, AttemptStatus.PROCESSING):
        return charging.Settled("already_settled")
    if row.stripe_payment_intent_id is not None:
        async with external_call(db):
            intent = await ctx.stripe.retrieve_payment_intent(row.stripe_payment_intent_id)
        return await charging.apply_intent(db, row.id, intent)
    return await charge_attempt(db, ctx, attempt_id)


# -- the failure email's link -----------------------------------------------------------------
async def recover(db: Db, ctx: AppContext, user: User, attempt_id: uuid.UUID) -> CheckoutCreated:
    """An on-session Checkout for a failed attempt's package (the authentication email's
    link). One per attempt: a second click answers the same session while it is open, so the
    link never races itself into two charges; the attempt itself stays FAILED (never
    charged again), so the link and the top-up never both charge for it."""
    row = await repository.attempt(db, attempt_id)
    if row is None or row.student_id != user.id:
        raise TopUpAttemptNotFound()
    if row.status != AttemptStatus.FAILED:
        raise TopUpNotRecoverable()
    if row.recovery_session_id is not None:
        session = await checkout_answers.find_session(db, user, row.recovery_session_id)
        if session.status != "PENDING":
            raise TopUpNotRecoverable()
        return await checkout_answers.created_out(db, session)
    plan = await checkout.prepare_checkout(db, user, row.package_id)
    # A pay link is an ordinary purchase (an auto-apply promotion applies, released if Stripe
    # fails).
    created = await checkout_flows.open_and_record(db, ctx, user, plan)
    if not await repository.set_recovery_session(db, row.id, created.session_id):
        # A concurrent click won: answer its session (ours expires unpaid, never charged).
        fresh = await repository.attempt(db, attempt_id)
        assert fresh is not None
        assert fresh.recovery_session_id is not None
        won = await checkout_answers.find_session(db, user, fresh.recovery_session_id)
        return await checkout_answers.created_out(db, won)
    return created
