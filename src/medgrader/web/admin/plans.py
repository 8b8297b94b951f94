"""/admin/plans: the back office's plans (create, rename, deactivate and reactivate: the same
flows as /api/admin/plans) and the subscriptions (status, student, plan, period, latest
invoice)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from starlette.responses import Response

from medgrader.core.deps import Ctx, RequestDb
from medgrader.core.errors import AppError
from medgrader.core.statuses import status_of
from medgrader.db.session import Db
from medgrader.subscriptions import flows, plans
from medgrader.subscriptions import repository as subscriptions
from medgrader.subscriptions.errors import PlanNotFound
from medgrader.subscriptions.schemas import PlanCreate, PlanUpdate
from medgrader.web.deps import Csrf, Form, PageAdmin
from medgrader.web.forms import FormInvalid, validated
from medgrader.web.money import parse_int, parse_pounds
from medgrader.web.rendering import redirect, render

router = APIRouter(include_in_schema=False)
FIELDS = ("name", "description", "credits", "price", "interval", "rollover")
SUBSCRIPTIONS_SHOWN = 100


def _plan_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise PlanNotFound() from None


async def _page(
    request: Request, db: Db, *, values: dict[str, str] | None = None,
    error: str | None = None, status: int = 200,
) -> Response:  # fmt: skip
    return render(
        request, "admin/plans.html", status,
        plans=await plans.list_plans(db, include_inactive=True),
        subscriptions=await subscriptions.back_office_list(db, limit=SUBSCRIPTIONS_SHOWN),
        values=values or {}, error=error, section="plans",
    )  # fmt: skip


@router.get("/admin/plans")
async def plans_page(request: Request, _: PageAdmin, db: RequestDb) -> Response:
    return await _page(request, db)


@router.post("/admin/plans", dependencies=[Csrf])
async def create(request: Request, _: PageAdmin, db: RequestDb, ctx: Ctx, form: Form) -> Response:
    values = {k: form.get(k, "") for k in FIELDS}
    try:
        body = validated(PlanCreate, {
            "name": values["name"], "description": values["description"].strip() or None,
            "creditsPerPeriod": parse_int(values["credits"], field="credits"),
            "priceMinor": parse_pounds(values["price"], field="price"),
            "interval": values["interval"],
            "rolloverMaxCredits": parse_int(values["rollover"] or "0", field="rollover"),
        })  # fmt: skip
        await flows.create_plan(db, ctx, body)
    except (FormInvalid, AppError) as exc:
        status = status_of(exc) if isinstance(exc, AppError) else 422
        return await _page(request, db, values=values, error=exc.message, status=status)
    return redirect(request, "/admin/plans")


@router.post("/admin/plans/{plan_id}", dependencies=[Csrf])
async def update(
    request: Request, plan_id: str, _: PageAdmin, db: RequestDb, ctx: Ctx, form: Form
) -> Response:
    """Rename / describe (the form), or deactivate / reactivate (`active`)."""
    fields: dict[str, object] = {}
    if "active" in form:
        fields["isActive"] = form.get("active") == "true"
    if "name" in form:
        fields["name"] = form.get("name", "")
        fields["description"] = form.get("description", "").strip() or None
    try:
        await flows.update_plan(db, ctx, _plan_id(plan_id), validated(PlanUpdate, fields))
    except (FormInvalid, AppError) as exc:
        status = status_of(exc) if isinstance(exc, AppError) else 422
        return await _page(request, db, error=exc.message, status=status)
    return redirect(request, "/admin/plans")
