"""The edge's side of plans and subscriptions around their Stripe calls (shared by the JSON
endpoints and the pages): read in the unit of work's first transaction, call Stripe in
`external_call` (no connection held), then write in the next transaction.
"""

from __future__ import annotations

import uuid
from typing import Any

from medgrader.auth.users import User
from medgrader.core.adapters.stripe_errors import CustomerMissing
from medgrader.core.adapters.stripe_gateway import CreatedSession
from medgrader.core.context import AppContext
from medgrader.core.errors import AppError
from medgrader.db.session import Db
from medgrader.db.transactions import external_call
from medgrader.models.subscriptions import SubscriptionStatus
from medgrader.subscriptions import plans, repository, service
from medgrader.subscriptions.errors import PlanUnchanged, SubscriptionNotActive
from medgrader.subscriptions.invoices import apply_paid_invoice
from medgrader.subscriptions.schemas import (
    PlanCreate,
    PlanUpdate,
    SubscriptionCheckoutOut,
    SubscriptionOut,
)
from medgrader.subscriptions.service import SubscriptionCheckout
from medgrader.subscriptions.sync import apply_stripe_subscription, session_completed


async def create_plan(db: Db, ctx: AppContext, body: PlanCreate) -> Any:
    await plans.check_new(db, body)
    async with external_call(db):
        product_id, price_id = await ctx.stripe.create_plan_price(
            name=body.name, description=body.description, unit_amount=body.price_minor,
            interval=body.interval, idempotency_key=f"medgrader-plan-{uuid.uuid4()}",
        )  # fmt: skip
    return await plans.record_new(db, body, product_id, price_id)


async def update_plan(db: Db, ctx: AppContext, plan_id: uuid.UUID, body: PlanUpdate) -> Any:
    plan, changes = await plans.check_update(db, plan_id, body)
    new_price = None
    product_changes = {k: changes[k] for k in ("name", "description") if k in changes}
    # Stripe follows isActive whenever it is sent, even when our row already says so: a PATCH
    # sent again mends a Stripe that a failed write (after Stripe answered) left behind.
    active = body.is_active if "is_active" in body.model_fields_set else None
    if plans.needs_new_price(changes) or product_changes or active is not None:
        async with external_call(db):
            if plans.needs_new_price(changes):
                new_price = await ctx.stripe.create_price(
                    product=plan.stripe_product_id,
                    unit_amount=changes.get("price_pence", plan.price_pence),
                    interval=changes.get("interval", plan.interval),
                    idempotency_key=f"medgrader-plan-price-{uuid.uuid4()}",
                )
            if product_changes:  # what Stripe's pages (Checkout, the portal) show
                await ctx.stripe.update_product(
                    plan.stripe_product_id,
                    {k: v if v is not None else "" for k, v in product_changes.items()},
                )
            if active is not None:  # a deactivated plan's Price sells nothing at Stripe
                await ctx.stripe.set_plan_active(
                    product=plan.stripe_product_id,
                    price=new_price or plan.stripe_price_id,
                    active=active,
                )
    return await plans.record_update(db, plan.id, changes, new_price)


async def _customer(ctx: AppContext, user: User, plan: SubscriptionCheckout, key: str) -> str:
    # The same keys as a purchase's (checkout.service): racing first checkouts, of either
    # kind, get one Customer, and one replacement of a missing one.
    return await ctx.stripe.create_customer(
        student_id=str(user.id), email=user.email, name=plan.customer_name, idempotency_key=key
    )


async def _open_at_stripe(
    ctx: AppContext, user: User, plan: SubscriptionCheckout
) -> tuple[str, CreatedSession, str | None]:
    """(the Customer, the session, the stored Customer it replaces). A stored Customer that
    Stripe no longer knows (deleted in the Dashboard) is replaced once, as for a purchase."""
    customer_id = plan.customer_id or await _customer(
        ctx, user, plan, f"medgrader-customer-{user.id}"
    )
    try:
        params = service.session_params(ctx, user, plan, customer_id)
        return customer_id, await ctx.stripe.create_checkout_session(params), None
    except CustomerMissing:
        if plan.customer_id is None:
            raise  # one this call created is missing too: a 502, never a loop
    missing = plan.customer_id
    customer_id = await _customer(
        ctx, user, plan, f"medgrader-customer-{user.id}-replacing-{missing}"
    )
    params = service.session_params(ctx, user, plan, customer_id)
    return customer_id, await ctx.stripe.create_checkout_session(params), missing


async def start_checkout(db: Db, ctx: AppContext, user: User, plan_id: uuid.UUID) -> Any:
    """Our INCOMPLETE row (committed before Stripe is asked), the Checkout Session with no
    connection held, then the session on our row. A Stripe failure closes the row at once."""
    plan = await service.prepare_checkout(db, user, plan_id)
    try:
        async with external_call(db):
            customer_id, created, replaces = await _open_at_stripe(ctx, user, plan)
    except AppError as error:
        await service.abandon_checkout(db, plan)
        error.keep_transaction = True  # the closed row is part of this answer
        raise
    await service.record_checkout(db, user, plan, customer_id, created.id, replaces=replaces)
    return SubscriptionCheckoutOut(session_url=created.url, session_id=created.id)


async def refresh_incomplete(db: Db, ctx: AppContext, row: Any) -> Any:
    """Our row; an INCOMPLETE one whose Checkout Session is known is first checked with
    Stripe (the return from Checkout may well beat the webhooks): a paid first invoice is
    granted by the one `apply_paid_invoice` (exactly once, whoever comes first)."""
    if row.status != SubscriptionStatus.INCOMPLETE or row.stripe_checkout_session_id is None:
        return row
    try:
        async with external_call(db):
            session = await ctx.stripe.retrieve_checkout_session(row.stripe_checkout_session_id)
            invoice_id = session.get("invoice")
            invoice_id = invoice_id.get("id") if isinstance(invoice_id, dict) else invoice_id
            complete = session.get("status") == "complete" and isinstance(invoice_id, str)
            invoice = await ctx.stripe.retrieve_invoice(invoice_id) if complete else None
    except AppError:
        return row  # Stripe is unreachable: answer what we know; the webhooks will follow
    if invoice is not None:
        await session_completed(db, session)
        await apply_paid_invoice(db, invoice)
    return await repository.by_id(db, row.id)


async def _reread(db: Db, row_id: uuid.UUID) -> SubscriptionOut:
    fresh = await repository.by_id(db, row_id)
    return service.subscription_out(fresh)


def _schedule_of(stripe_sub: dict[str, Any]) -> str | None:
    schedule = stripe_sub.get("schedule")
    schedule = schedule.get("id") if isinstance(schedule, dict) else schedule
    return schedule if isinstance(schedule, str) and schedule else None


async def set_cancel_at_period_end(
    db: Db, ctx: AppContext, user: User, *, cancel: bool
) -> SubscriptionOut:
    """Cancel at the end of the period (a pending plan change is dropped: Stripe's schedule
    that carries it is released first), or undo that."""
    row = await service.current_manageable(db, user)
    async with external_call(db):
        stripe_sub = await ctx.stripe.retrieve_subscription(row.stripe_subscription_id)
        schedule = _schedule_of(stripe_sub)
        if cancel and schedule is not None:
            await ctx.stripe.release_schedule(schedule)
        stripe_sub = await ctx.stripe.update_subscription(
            row.stripe_subscription_id,
            {"cancel_at_period_end": cancel},
            idempotency_key=f"medgrader-sub-cancel-{row.id}-{cancel}-{uuid.uuid4()}",
        )
    if cancel and row.next_plan_id is not None:
        await service.record_change(db, row, None)
    await apply_stripe_subscription(db, stripe_sub)
    return await _reread(db, row.id)


async def change_plan(db: Db, ctx: AppContext, user: User, plan_id: uuid.UUID) -> SubscriptionOut:
    """Another plan from the next renewal on, whatever its interval (no proration), through a
    Stripe subscription schedule; back to the current plan drops the pending change. A
    cancellation at the period's end is undone: changing plan means going on."""
    row = await service.current_manageable(db, user)
    plan = await service.plan_for_change(db, row, plan_id)
    if plan.id == (row.next_plan_id or row.plan_id):
        raise PlanUnchanged()
    async with external_call(db):
        stripe_sub = await ctx.stripe.retrieve_subscription(row.stripe_subscription_id)
        schedule = _schedule_of(stripe_sub)
        if plan.id == row.plan_id:
            if schedule is not None:
                await ctx.stripe.release_schedule(schedule)
        else:
            if stripe_sub.get("cancel_at_period_end") or stripe_sub.get("cancel_at"):
                await ctx.stripe.update_subscription(
                    row.stripe_subscription_id, {"cancel_at_period_end": False},
                    idempotency_key=f"medgrader-sub-resume-{row.id}-{uuid.uuid4()}",
                )  # fmt: skip
            await ctx.stripe.schedule_price_at_renewal(
                subscription=row.stripe_subscription_id, schedule=schedule,
                price=plan.stripe_price_id,
            )  # fmt: skip
        stripe_sub = await ctx.stripe.retrieve_subscription(row.stripe_subscription_id)
    await service.record_change(db, row, plan)
    await apply_stripe_subscription(db, stripe_sub)
    return await _reread(db, row.id)


async def portal_url(db: Db, ctx: AppContext, user: User) -> str:
    row = await service.current(db, user)
    if row.stripe_customer_id is None:
        raise SubscriptionNotActive()
    frontend = ctx.settings.frontend_url.rstrip("/")
    async with external_call(db):
        return await ctx.stripe.create_portal_session(
            customer=row.stripe_customer_id, return_url=f"{frontend}/wallet"
        )
