"""Handling one verified Stripe event: an optional step with Stripe, then one transaction.

`prepare_event` runs first, with no transaction open: a handler that must ask Stripe what is
true now (refunds and disputes) does it there. Then, inside the caller's transaction, the
inbox row is claimed (a processed duplicate stops here), the handler for the type runs, and
the inbox row is marked processed with what happened. Everything commits together or not at
all; the caller records a failure (`record_failure`) after rolling back.

A type without a handler (everything Stripe sends that we do not act on) is stored and
acknowledged but NOT marked processed: `processed_at` stays NULL and the outcome says so
(`UNHANDLED`); the inbox calls it `unhandled`, apart from the handled events that wait. HANDLERS
is the one definition of a handled type (the inbox's status SQL takes `handled_types()`), so a
handler added later turns those stored events into waiting ones, which a replay processes
(`webhooks.replay`). A handler may also leave an event unprocessed on purpose (a refund of a
payment we do not know yet): Stripe's next delivery or a replay then handles it again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from medgrader.checkout.fulfilment import (
    PAID_STATUSES,
    Outcome,
    fulfill_checkout,
    mark_expired,
    mark_failed,
)
from medgrader.core.context import AppContext
from medgrader.db.lean import SqlSession, lean_transaction
from medgrader.payments.observations import MalformedStripeObject
from medgrader.webhooks import repository as inbox
from medgrader.webhooks.returns import (
    RETURNS_EVENTS,
    NoPaymentIntent,
    StripeNow,
    apply_stripe_now,
    ask_stripe,
)

log = structlog.get_logger(__name__)

Apply = Callable[[SqlSession, AppContext, "Event", Any], Awaitable[Outcome]]
Prepare = Callable[[AppContext, "Event"], Awaitable[Any]]


class MalformedEvent(ValueError):
    pass


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    object: dict[str, Any]


def parse_event(document: Any) -> Event:
    if not isinstance(document, dict):
        raise MalformedEvent("the body is not a JSON object")
    event_id, event_type = document.get("id"), document.get("type")
    data = document.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(event_id, str) or not event_id or len(event_id) > 255:
        raise MalformedEvent("id")
    if not isinstance(event_type, str) or not event_type or len(event_type) > 100:
        raise MalformedEvent("type")
    if not isinstance(obj, dict):
        raise MalformedEvent("data.object")
    return Event(id=event_id, type=event_type, object=obj)


def _session_id(obj: dict[str, Any]) -> str:
    session_id = obj.get("id")
    if not isinstance(session_id, str) or not session_id:
        raise MalformedEvent("data.object.id")
    return session_id


async def _completed(session: SqlSession, ctx: AppContext, event: Event, _: Any) -> Outcome:
    obj = event.object
    session_id = _session_id(obj)
    if obj.get("payment_status") not in PAID_STATUSES:
        # A delayed method (bank debit): the money is not there yet; a later
        # async_payment_succeeded or async_payment_failed decides.
        return Outcome(f"awaiting_payment: payment_status={obj.get('payment_status')}")
    return await fulfill_checkout(session, ctx, session_id, obj)


async def _async_succeeded(session: SqlSession, ctx: AppContext, event: Event, _: Any) -> Outcome:
    return await fulfill_checkout(session, ctx, _session_id(event.object), event.object)


async def _async_failed(session: SqlSession, ctx: AppContext, event: Event, _: Any) -> Outcome:
    return await mark_failed(session, _session_id(event.object))


async def _expired(session: SqlSession, ctx: AppContext, event: Event, _: Any) -> Outcome:
    return await mark_expired(session, _session_id(event.object))


async def _ask_stripe(ctx: AppContext, event: Event) -> StripeNow:
    try:
        return await ask_stripe(ctx, event.object)
    except NoPaymentIntent as exc:
        raise MalformedEvent(str(exc)) from exc


async def _returns(session: SqlSession, ctx: AppContext, event: Event, now: Any) -> Outcome:
    assert isinstance(now, StripeNow)
    return await apply_stripe_now(session, ctx, event.type, event.object, now)


@dataclass(frozen=True)
class Handler:
    apply: Apply
    # Runs before the transaction (may call Stripe); its result is handed to `apply`.
    prepare: Prepare | None = None


UNHANDLED = "unhandled: stored for later"

HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": Handler(_completed),
    "checkout.session.async_payment_succeeded": Handler(_async_succeeded),
    "checkout.session.async_payment_failed": Handler(_async_failed),
    "checkout.session.expired": Handler(_expired),
    **{event_type: Handler(_returns, prepare=_ask_stripe) for event_type in RETURNS_EVENTS},
}


def handled_types() -> list[str]:
    """The types HANDLERS acts on, for the inbox's SQL (its `:handled` parameter)."""
    return sorted(HANDLERS)


def is_handled(event_type: str) -> bool:
    return event_type in HANDLERS


_SKIPPED = object()  # prepare_event's answer for an event already processed


async def prepare_event(ctx: AppContext, event: Event, *, skip_if_processed: bool = True) -> Any:
    """The handler's step before the transaction (None for most types). An event already
    processed is not worth a call to Stripe: the transaction will find it a duplicate."""
    handler = HANDLERS.get(event.type)
    if handler is None or handler.prepare is None:
        return None
    if skip_if_processed:
        async with lean_transaction(ctx.lean_pool) as session:
            if await inbox.is_processed(session, event.id):
                return _SKIPPED
    try:
        return await handler.prepare(ctx, event)
    except MalformedEvent as exc:
        return exc  # handed to dispatch, which records it as malformed


async def handle_event(
    session: SqlSession, ctx: AppContext, event: Event, raw_body: str, prepared: Any = None
) -> str:
    """Process the event once; returns the outcome ("duplicate" if processed before)."""
    if not await inbox.claim_event(session, event.id, event.type, raw_body):
        return "duplicate"
    return (await dispatch(session, ctx, event, prepared)).code


async def dispatch(session: SqlSession, ctx: AppContext, event: Event, prepared: Any) -> Outcome:
    """Run the type's handler on a claimed event and record what it concluded."""
    handler = HANDLERS.get(event.type)
    if handler is None:
        await inbox.note_unprocessed(session, event.id, UNHANDLED)
        return Outcome(UNHANDLED, processed=False)
    if prepared is _SKIPPED:
        raise RuntimeError(f"event {event.id} was processed meanwhile; retry")
    try:
        if isinstance(prepared, MalformedEvent):
            raise prepared
        outcome = await handler.apply(session, ctx, event, prepared)
    except (MalformedEvent, MalformedStripeObject) as exc:
        # Signed by Stripe yet not shaped as expected: keep it for a human, acknowledge.
        outcome = Outcome(f"malformed: {exc}")
        log.error("ALERT malformed stripe event", alert="webhook_malformed",
                  event_id=event.id, event_type=event.type, detail=str(exc))  # fmt: skip
    if outcome.processed:
        await inbox.mark_processed(session, event.id, outcome.code)
    else:
        await inbox.note_unprocessed(session, event.id, outcome.code)
    return outcome


async def record_failure(ctx: AppContext, event: Event, raw_body: str, exc: BaseException) -> None:
    """After a rolled-back attempt: keep the event unprocessed with why it failed, so that the
    admin list shows it and Stripe's retry or a replay handles it again. Best effort: the
    database may be what failed."""
    error = f"{type(exc).__name__}: {exc}"[:500]
    try:
        async with lean_transaction(ctx.lean_pool) as session:
            await inbox.note_failure(session, event.id, event.type, raw_body, error)
    except Exception:  # the original error is what matters; this one is only logged
        log.warning("could not record a webhook failure", event_id=event.id, exc_info=True)
