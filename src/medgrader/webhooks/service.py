"""Handling one verified Stripe event: an optional step with Stripe, then one transaction.

A handler that must ask Stripe what is true now (refunds and disputes) has two steps before
its transaction, which the edge (webhooks.flows) runs around `external_call`: `look` reads
what the question needs in the first transaction (has the event been processed meanwhile? do
we know the payment?), `ask` asks Stripe with no connection held. Then, in the next
transaction, the inbox row is claimed (a processed duplicate stops here), the handler for the
type runs, and the inbox row is marked processed with what happened. Everything commits
together or not at all; the edge records a failure (`record_failure`) after rolling back.

A type without a handler (everything Stripe sends that we do not act on) is stored and
acknowledged but NOT marked processed: `processed_at` stays NULL and the outcome says so
(`UNHANDLED`); the inbox calls it `unhandled`, apart from the handled events that wait. HANDLERS
is the one definition of a handled type (the inbox's status SQL takes `handled_types()`), so a
handler added later turns those stored events into waiting ones, which a replay processes
(`webhooks.flows`). A handler may also leave an event unprocessed on purpose (a refund of a
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
from medgrader.db.session import Db
from medgrader.payments.observations import MalformedStripeObject
from medgrader.subscriptions import events as subscription_events
from medgrader.subscriptions import sync as subscription_sync
from medgrader.topups import service as top_ups
from medgrader.topups.charging import apply_intent, attempt_id_of
from medgrader.webhooks import repository as inbox
from medgrader.webhooks.returns import (
    RETURNS_EVENTS,
    NoPaymentIntent,
    StripeNow,
    apply_stripe_now,
    ask_stripe,
    payment_known,
)

log = structlog.get_logger(__name__)

Apply = Callable[[Db, "Event", Any], Awaitable[Outcome]]
Look = Callable[[Db, "Event"], Awaitable[Any]]
Ask = Callable[[AppContext, "Event", Any], Awaitable[Any]]


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


def _subscription_mode(obj: dict[str, Any]) -> bool:
    # A subscription's Checkout Session grants nothing: its paid invoice does (subscriptions).
    return obj.get("mode") == "subscription"


def _is_setup(event: Event) -> bool:
    return event.object.get("mode") == "setup"


async def _ask_setup_intent(ctx: AppContext, event: Event, _: Any) -> Any:
    """A setup Checkout saved a card: which one (Stripe's SetupIntent, its card expanded)."""
    setup_intent = event.object.get("setup_intent")
    if isinstance(setup_intent, dict):
        setup_intent = setup_intent.get("id")
    if not isinstance(setup_intent, str) or not setup_intent:
        raise MalformedEvent("data.object.setup_intent")
    return await ctx.stripe.retrieve_setup_intent(setup_intent)


async def _card_saved(db: Db, setup_intent: Any) -> Outcome:
    card = setup_intent.get("payment_method") if isinstance(setup_intent, dict) else None
    if setup_intent.get("status") != "succeeded" or not isinstance(card, dict):
        return Outcome(f"no_card_saved: status={setup_intent.get('status')}")
    customer = card.get("customer") or setup_intent.get("customer")
    if not isinstance(customer, str):
        return Outcome("no_card_saved: no customer")
    return Outcome(await top_ups.card_saved(db, customer, card))


async def _completed(db: Db, event: Event, prepared: Any) -> Outcome:
    obj = event.object
    if _is_setup(event):
        return await _card_saved(db, prepared)
    session_id = _session_id(obj)
    if _subscription_mode(obj):
        return await subscription_sync.session_completed(db, obj)
    if obj.get("payment_status") not in PAID_STATUSES:
        # A delayed method (bank debit): the money is not there yet; a later
        # async_payment_succeeded or async_payment_failed decides.
        return Outcome(f"awaiting_payment: payment_status={obj.get('payment_status')}")
    return await fulfill_checkout(db, session_id, obj)


async def _async_succeeded(db: Db, event: Event, _: Any) -> Outcome:
    return await fulfill_checkout(db, _session_id(event.object), event.object)


async def _async_failed(db: Db, event: Event, _: Any) -> Outcome:
    return await mark_failed(db, _session_id(event.object))


async def _expired(db: Db, event: Event, _: Any) -> Outcome:
    if _subscription_mode(event.object):
        return await subscription_sync.session_expired(db, event.object)
    return await mark_expired(db, _session_id(event.object))


async def _ask_invoice(ctx: AppContext, event: Event, _: Any) -> Any:
    try:
        return await subscription_events.ask_invoice(ctx, event.object)
    except MalformedStripeObject as exc:
        return MalformedEvent(str(exc))  # handed to dispatch, which records it as malformed


async def _invoice_paid(db: Db, event: Event, invoice_now: Any) -> Outcome:
    return await subscription_events.invoice_paid(db, invoice_now)


async def _ask_subscription(ctx: AppContext, event: Event, _: Any) -> Any:
    try:
        return await subscription_events.ask_subscription(ctx, event.object)
    except MalformedStripeObject as exc:
        return MalformedEvent(str(exc))


async def _subscription_changed(db: Db, event: Event, subscription_now: Any) -> Outcome:
    return await subscription_events.subscription_changed(db, subscription_now)


async def _payment_failed(db: Db, event: Event, invoice_now: Any) -> Outcome:
    return await subscription_events.payment_failed(db, invoice_now)


async def _top_up_intent(db: Db, event: Event, _: Any) -> Outcome:
    """payment_intent.succeeded / payment_failed: settles an automatic top-up attempt (found by
    the intent's metadata) with the one settlement function; other intents are not ours."""
    attempt_id = attempt_id_of(event.object)
    if attempt_id is None:
        return Outcome("not_a_top_up")
    settled = await apply_intent(db, attempt_id, event.object)
    return Outcome(f"top_up: {settled}", credited=settled.credited, payment_id=settled.payment_id)


async def _card_detached(db: Db, event: Event, _: Any) -> Outcome:
    payment_method = event.object.get("id")
    if not isinstance(payment_method, str) or not payment_method:
        raise MalformedEvent("data.object.id")
    await top_ups.forget_card(db, payment_method)
    return Outcome("card_forgotten")


async def _payment_known(db: Db, event: Event) -> Any:
    try:
        return await payment_known(db, event.object)
    except NoPaymentIntent as exc:
        return MalformedEvent(str(exc))


async def _ask_stripe(ctx: AppContext, event: Event, known: Any) -> Any:
    if isinstance(known, MalformedEvent):
        return known  # handed to dispatch, which records it as malformed
    return await ask_stripe(ctx, event.object, known=known)


async def _returns(db: Db, event: Event, now: Any) -> Outcome:
    assert isinstance(now, StripeNow)
    return await apply_stripe_now(db, event.type, event.object, now)


@dataclass(frozen=True)
class Handler:
    apply: Apply
    # Before the transaction: `look` reads (in the first transaction), `ask` calls Stripe
    # (none held); what `ask` returns is handed to `apply`.
    look: Look | None = None
    ask: Ask | None = None
    # Only these events of the type ask Stripe (None: all of them, when `ask` is set).
    asks_when: Callable[[Event], bool] | None = None


UNHANDLED = "unhandled: stored for later"

HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": Handler(_completed, ask=_ask_setup_intent, asks_when=_is_setup),
    "payment_intent.succeeded": Handler(_top_up_intent),
    "payment_intent.payment_failed": Handler(_top_up_intent),
    "payment_method.detached": Handler(_card_detached),
    "checkout.session.async_payment_succeeded": Handler(_async_succeeded),
    "checkout.session.async_payment_failed": Handler(_async_failed),
    "checkout.session.expired": Handler(_expired),
    **{
        event_type: Handler(_returns, look=_payment_known, ask=_ask_stripe)
        for event_type in RETURNS_EVENTS
    },
    # Subscriptions: what Stripe says now is applied (subscriptions.events).
    **{
        event_type: Handler(_invoice_paid, ask=_ask_invoice)
        for event_type in subscription_events.INVOICE_PAID_EVENTS
    },
    **{
        event_type: Handler(_subscription_changed, ask=_ask_subscription)
        for event_type in subscription_events.SUBSCRIPTION_EVENTS
    },
    "invoice.payment_failed": Handler(_payment_failed, ask=_ask_invoice),
}


def handled_types() -> list[str]:
    """The types HANDLERS acts on, for the inbox's SQL (its `:handled` parameter)."""
    return sorted(HANDLERS)


def is_handled(event_type: str) -> bool:
    return event_type in HANDLERS


def asks_stripe(event: Event) -> bool:
    """Whether handling the event starts with a question to Stripe (webhooks.flows)."""
    handler = HANDLERS.get(event.type)
    if handler is None or handler.ask is None:
        return False
    return handler.asks_when is None or handler.asks_when(event)


_SKIPPED = object()  # prepare_event's answer for an event already processed


async def look(db: Db, event: Event, *, skip_if_processed: bool = True) -> Any:
    """The first step of an event that asks Stripe: what the question needs, read in the
    first transaction. An event already processed is not worth a call to Stripe: the
    transaction will find it a duplicate."""
    handler = HANDLERS[event.type]
    if skip_if_processed and await inbox.is_processed(db, event.id):
        return _SKIPPED
    return await handler.look(db, event) if handler.look is not None else None


async def ask(ctx: AppContext, event: Event, looked: Any) -> Any:
    """The second step, with no connection held: Stripe's answer, handed to the handler."""
    handler = HANDLERS[event.type]
    if looked is _SKIPPED or handler.ask is None:
        return looked
    try:
        return await handler.ask(ctx, event, looked)
    except MalformedEvent as exc:
        return exc  # handed to dispatch, which records it as malformed


async def handle_event(db: Db, event: Event, raw_body: str, prepared: Any = None) -> str:
    """Process the event once; returns the outcome ("duplicate" if processed before)."""
    if not await inbox.claim_event(db, event.id, event.type, raw_body):
        return "duplicate"
    return (await dispatch(db, event, prepared)).code


async def dispatch(db: Db, event: Event, prepared: Any) -> Outcome:
    """Run the type's handler on a claimed event and record what it concluded."""
    handler = HANDLERS.get(event.type)
    if handler is None:
        await inbox.note_unprocessed(db, event.id, UNHANDLED)
        return Outcome(UNHANDLED, processed=False)
    if prepared is _SKIPPED:
        raise RuntimeError(f"event {event.id} was processed meanwhile; retry")
    try:
        if isinstance(prepared, MalformedEvent):
            raise prepared
        outcome = await handler.apply(db, event, prepared)
    except (MalformedEvent, MalformedStripeObject) as exc:
        # Signed by Stripe yet not shaped as expected: keep it for a human, acknowledge.
        outcome = Outcome(f"malformed: {exc}")
        log.error("ALERT malformed stripe event", alert="webhook_malformed",
                  event_id=event.id, event_type=event.type, detail=str(exc))  # fmt: skip
    if outcome.processed:
        await inbox.mark_processed(db, event.id, outcome.code)
    else:
        await inbox.note_unprocessed(db, event.id, outcome.code)
    return outcome


async def record_failure(db: Db, event: Event, raw_body: str, exc: BaseException) -> None:
    """After a rolled-back attempt (in a unit of work of its own): keep the event unprocessed
    with why it failed, so that the admin list shows it and Stripe's retry or a replay
    handles it again."""
    error = f"{type(exc).__name__}: {exc}"[:500]
    await inbox.note_failure(db, event.id, event.type, raw_body, error)
