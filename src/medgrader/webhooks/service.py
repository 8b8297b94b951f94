"""Handling one verified Stripe event, inside the caller's transaction.

Inbox row first (a duplicate stops here), then the handler for the type, then the inbox row
is marked processed with what happened. Everything commits together or not at all.

A type without a handler (refunds and disputes until their issue lands, and everything else
Stripe sends) is stored and acknowledged but NOT marked processed: `processed_at` stays NULL
and the outcome says so (`UNHANDLED`). A handler added later finds those events in the inbox
(`ix_webhook_events_unprocessed`) and can replay them; Stripe's own re-deliveries of them are
duplicates and answer 200 at once.
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
from medgrader.db.lean import SqlSession
from medgrader.webhooks import repository as inbox

log = structlog.get_logger(__name__)

Handler = Callable[[SqlSession, AppContext, dict[str, Any]], Awaitable[Outcome]]


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


async def _completed(session: SqlSession, ctx: AppContext, obj: dict[str, Any]) -> Outcome:
    session_id = _session_id(obj)
    if obj.get("payment_status") not in PAID_STATUSES:
        # A delayed method (bank debit): the money is not there yet; a later
        # async_payment_succeeded or async_payment_failed decides.
        return Outcome(f"awaiting_payment: payment_status={obj.get('payment_status')}")
    return await fulfill_checkout(session, ctx, session_id, obj)


async def _async_succeeded(session: SqlSession, ctx: AppContext, obj: dict[str, Any]) -> Outcome:
    return await fulfill_checkout(session, ctx, _session_id(obj), obj)


async def _async_failed(session: SqlSession, ctx: AppContext, obj: dict[str, Any]) -> Outcome:
    return await mark_failed(session, _session_id(obj))


async def _expired(session: SqlSession, ctx: AppContext, obj: dict[str, Any]) -> Outcome:
    return await mark_expired(session, _session_id(obj))


UNHANDLED = "unhandled: stored for later"

HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": _completed,
    "checkout.session.async_payment_succeeded": _async_succeeded,
    "checkout.session.async_payment_failed": _async_failed,
    "checkout.session.expired": _expired,
}


async def handle_event(session: SqlSession, ctx: AppContext, event: Event, raw_body: str) -> str:
    """Process the event once; returns the outcome ("duplicate" if seen before)."""
    if not await inbox.insert_event(session, event.id, event.type, raw_body):
        return "duplicate"
    handler = HANDLERS.get(event.type)
    if handler is None:
        await inbox.note_unprocessed(session, event.id, UNHANDLED)
        return UNHANDLED
    try:
        outcome = str(await handler(session, ctx, event.object))
    except MalformedEvent as exc:
        # Signed by Stripe yet not shaped as expected: keep it for a human, acknowledge.
        outcome = f"malformed: {exc}"
        log.error("ALERT malformed stripe event", alert="webhook_malformed",
                  event_id=event.id, event_type=event.type, detail=str(exc))  # fmt: skip
    await inbox.mark_processed(session, event.id, outcome)
    return outcome
