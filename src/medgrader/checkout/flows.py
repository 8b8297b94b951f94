"""The edge's side of a checkout around its Stripe calls, shared by the JSON endpoints, the
wallet pages and reconciliation: read in the unit of work's first transaction, call Stripe in
`external_call` (no connection held: a Stripe call may take up to the configured timeout and
is retried, and a transaction held across it would let a handful of slow calls starve every
other request), then write in the next transaction.
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog

from medgrader.auth.users import User
from medgrader.checkout import repository as sessions
from medgrader.checkout import service
from medgrader.checkout.fulfilment import Outcome, apply_stripe_session
from medgrader.checkout.schemas import CheckoutCreated
from medgrader.core.context import AppContext
from medgrader.core.errors import AppError
from medgrader.db.session import Db
from medgrader.db.transactions import external_call
from medgrader.models.checkout import CheckoutStatus
from medgrader.promotions import limits as promotion_limits
from medgrader.security import limits, rules

log = structlog.get_logger(__name__)


async def start_checkout(
    db: Db,
    ctx: AppContext,
    user: User,
    package_id: uuid.UUID,
    promotion_code: str | None = None,
    *,
    save_card: bool = False,
) -> CheckoutCreated:
    """The three steps of a new Checkout Session (checkout.service): the per-student limit
    (429), the reads and the promotion's reservation, Stripe with no connection held, then the
    writes (committed by the edge before it answers). `save_card`: the card is saved for
    automatic top-up."""
    await limits.hit(db, ctx, *rules.checkout(ctx.settings, user.id))
    reopened = await service.reopen_promoted(db, user, package_id, promotion_code)
    if reopened is not None:
        return reopened
    plan = await service.prepare_checkout(db, user, package_id, promotion_code, save_card=save_card)
    return await open_and_record(db, ctx, user, plan)


async def open_and_record(
    db: Db, ctx: AppContext, user: User, plan: service.CheckoutPlan
) -> CheckoutCreated:
    """Steps 2 and 3 of a prepared checkout (also a failed top-up's pay link).

    If Stripe fails, the promotion's reservation is released at once (committed with the
    502), so a promotion's place is never held by a checkout that does not exist."""
    try:
        async with external_call(db):
            opened = await service.open_at_stripe(ctx, user, plan)
    except AppError as error:
        if plan.offer is not None and plan.offer.redemption_id is not None:
            await promotion_limits.release_claim(db, plan.offer.redemption_id, "stripe_failed")
            error.keep_transaction = True  # the release is part of this answer
        raise
    return await service.record_checkout(db, user, plan, opened)


async def sync_with_stripe(db: Db, ctx: AppContext, stripe_session_id: str) -> tuple[Outcome, Any]:
    """Retrieve the session from Stripe (no connection held), then apply it with the one
    shared `apply_stripe_session` (fulfils a paid session exactly once, marks an expired one
    EXPIRED). Returns the outcome and our row as it then stands.

    Raises the gateway's BadGateway if Stripe cannot answer (nothing is written then).
    """
    async with external_call(db):
        remote = await ctx.stripe.retrieve_checkout_session(stripe_session_id)
    outcome = await apply_stripe_session(db, remote)
    row = await sessions.by_stripe_id(db, stripe_session_id)
    assert row is not None  # rows are never deleted
    return outcome, row


async def refresh_pending(db: Db, ctx: AppContext, row: Any) -> Any:
    """Our row; a PENDING one is first checked with Stripe and fulfilled if paid (the
    success-page return may well beat the webhook)."""
    if row.status != CheckoutStatus.PENDING:
        return row
    try:
        outcome, fresh = await sync_with_stripe(db, ctx, row.stripe_session_id)
    except AppError:
        # Stripe is unreachable: answer what we know; the webhook will still fulfil it.
        return row
    log.info("checkout status synced with stripe", stripe_session_id=row.stripe_session_id,
             outcome=str(outcome))  # fmt: skip
    return fresh
