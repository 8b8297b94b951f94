"""The back office's plans: each a Stripe Product with a recurring Price, made before our row.

Creating or re-pricing a plan runs in three steps the edge drives around `external_call`
(subscriptions.flows): the checks (reads), Stripe (no connection held), then our row. A plan's
terms (price, credits, interval, rollover) are frozen once anyone has subscribed to it
(409 plan_in_use): a subscriber's periods are granted by the plan their invoice paid for.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg

from medgrader.core.errors import Unprocessable
from medgrader.db.session import Db
from medgrader.subscriptions import repository
from medgrader.subscriptions.errors import PlanInUse, PlanNameTaken, PlanNotFound
from medgrader.subscriptions.schemas import TERMS, PlanCreate, PlanUpdate

NAME_INDEX = "uq_plans_name_lower"
CURRENCY = "GBP"


@asynccontextmanager
async def _unique_name(db: Db) -> AsyncIterator[None]:
    try:
        async with db.savepoint():
            yield
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name == NAME_INDEX:
            raise PlanNameTaken() from exc
        raise


async def list_plans(db: Db, *, include_inactive: bool = False) -> list[Any]:
    return await repository.list_plans(db, include_inactive=include_inactive)


async def get_plan(db: Db, plan_id: uuid.UUID, *, include_inactive: bool = False) -> Any:
    plan = await repository.get_plan(db, plan_id)
    if plan is None or (not plan.is_active and not include_inactive):
        raise PlanNotFound()
    return plan


async def check_new(db: Db, body: PlanCreate) -> None:
    """Before Stripe: a taken name never makes a Stripe Product."""
    if await repository.name_taken(db, body.name):
        raise PlanNameTaken()


async def record_new(db: Db, body: PlanCreate, product_id: str, price_id: str) -> Any:
    values = {
        "name": body.name,
        "description": body.description,
        "credits_per_period": body.credits_per_period,
        "price_pence": body.price_minor,
        "currency": CURRENCY,
        "interval": body.interval,
        "rollover_max_credits": body.rollover_max_credits,
        "stripe_product_id": product_id,
        "stripe_price_id": price_id,
    }
    async with _unique_name(db):
        return await repository.insert_plan(db, values)


async def check_update(db: Db, plan_id: uuid.UUID, body: PlanUpdate) -> tuple[Any, dict[str, Any]]:
    """Before Stripe: the plan, and the changes it may take; refusals never reach Stripe."""
    plan = await get_plan(db, plan_id, include_inactive=True)
    changes = {k: v for k, v in body.changes().items() if getattr(plan, k) != v}
    if any(k in TERMS for k in changes) and await repository.plan_has_had_subscriber(db, plan.id):
        raise PlanInUse()
    credits = changes.get("credits_per_period", plan.credits_per_period)
    if changes.get("rollover_max_credits", plan.rollover_max_credits) > credits:
        raise Unprocessable("rolloverMaxCredits may not exceed creditsPerPeriod.")
    if "name" in changes and await repository.name_taken(db, changes["name"], other_than=plan.id):
        raise PlanNameTaken()
    return plan, changes


def needs_new_price(changes: dict[str, Any]) -> bool:
    """A Stripe Price never changes its amount or interval: a new one is made."""
    return "price_pence" in changes or "interval" in changes


async def record_update(
    db: Db, plan_id: uuid.UUID, changes: dict[str, Any], new_price_id: str | None
) -> Any:
    if new_price_id is not None:
        changes = {**changes, "stripe_price_id": new_price_id}
    if not changes:
        return await get_plan(db, plan_id, include_inactive=True)
    if any(k in TERMS for k in changes) and await repository.plan_has_had_subscriber(db, plan_id):
        raise PlanInUse()  # someone subscribed while Stripe was asked
    async with _unique_name(db):
        plan = await repository.update_plan(db, plan_id, changes)
    if plan is None:
        raise PlanNotFound()
    return plan
