"""Asking Stripe about a session and applying the answer, never holding a connection meanwhile.

A Stripe call may take up to the configured timeout (20 s) and is retried; a transaction (and
its pooled connection) held across it lets a handful of slow calls starve every other request.
So the callers (the status endpoint, the dev success page, reconciliation) read what they need
in a short transaction of their own, release it, call Stripe here with no transaction open,
and apply the answer in a new short transaction: this module is their transaction edge.
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from sqlalchemy import Row

from medgrader.checkout import repository as sessions
from medgrader.checkout import service
from medgrader.checkout.fulfilment import Outcome, apply_stripe_session
from medgrader.checkout.schemas import CheckoutCreated
from medgrader.core.context import AppContext, short_transaction
from medgrader.core.errors import AppError
from medgrader.models.checkout import CheckoutStatus
from medgrader.models.users import User
from medgrader.security import limits, rules

log = structlog.get_logger(__name__)


async def sync_with_stripe(ctx: AppContext, stripe_session_id: str) -> tuple[Outcome, Row[Any]]:
    """Retrieve the session from Stripe (no transaction open), then apply it in a short
    transaction with the one shared `apply_stripe_session` (fulfils a paid session exactly
    once, marks an expired one EXPIRED). Returns the outcome and our row as it then stands.

    Raises the gateway's BadGateway if Stripe cannot answer (nothing is written then).
    """
    remote = await ctx.stripe.retrieve_checkout_session(stripe_session_id)
    async with short_transaction(ctx) as session:
        outcome = await apply_stripe_session(session, ctx, remote)
        row = await sessions.by_stripe_id(session, stripe_session_id)
    assert row is not None  # rows are never deleted
    return outcome, row


async def refresh_pending(ctx: AppContext, row: Row[Any]) -> Row[Any]:
    """Our row; a PENDING one is first checked with Stripe and fulfilled if paid (the
    success-page return may well beat the webhook). `row` was read in a transaction the caller
    has already closed."""
    if row.status != CheckoutStatus.PENDING:
        return row
    try:
        outcome, fresh = await sync_with_stripe(ctx, row.stripe_session_id)
    except AppError:
        # Stripe is unreachable: answer what we know; the webhook will still fulfil it.
        return row
    log.info("checkout status synced with stripe", stripe_session_id=row.stripe_session_id,
             outcome=str(outcome))  # fmt: skip
    return fresh


async def start_checkout(ctx: AppContext, user: User, package_id: uuid.UUID) -> CheckoutCreated:
    """The three steps of a new Checkout Session (checkout.service), for the JSON endpoint and
    the wallet's Buy button alike: reads in one short transaction, Stripe with none open,
    writes in a second short transaction (committed before this returns). The per-student
    checkout limit applies to both (429 TooManyRequests)."""
    await limits.hit(ctx, *rules.checkout(ctx.settings, user.id))
    async with short_transaction(ctx) as session:
        plan = await service.prepare_checkout(session, user, package_id)
    opened = await service.open_at_stripe(ctx, user, plan)
    async with short_transaction(ctx) as session:
        return await service.record_checkout(session, user, plan, opened)
