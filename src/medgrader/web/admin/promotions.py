"""/admin/promotions: the promotions service's list, create, edit, deactivate, and each
promotion's redemptions with their students. The forms are validated by the API's models."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from medgrader.catalog import service as catalog
from medgrader.core.deps import RequestDb
from medgrader.core.errors import AppError
from medgrader.core.statuses import status_of
from medgrader.db.session import Db
from medgrader.promotions import service as promotions
from medgrader.promotions.errors import NoSuchPromotion
from medgrader.promotions.schemas import PromotionCreate, PromotionUpdate
from medgrader.web.deps import Csrf, Form, PageAdmin
from medgrader.web.forms import FormInvalid, validated
from medgrader.web.money import parse_int, parse_pounds
from medgrader.web.rendering import redirect, render

router = APIRouter(include_in_schema=False)
WHOLE = ("discount_percent", "bonus_credits_percent", "bonus_credits", "grant_credits",
         "credits_expire_days", "max_redemptions", "max_per_student")  # fmt: skip
POUNDS = ("discount_amount", "min_amount")
REDEMPTIONS_SHOWN = 200


def _promotion_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NoSuchPromotion() from None


def _instant(raw: str | None) -> str | None:
    """A datetime-local field ("2026-12-05T10:00"), read as UTC."""
    text = (raw or "").strip()
    if not text:
        return None
    return text + (":00Z" if len(text) == 16 else "Z")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _create_body(form: dict[str, str], package_ids: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = {"code": form.get("code", "").strip(),
                            "description": form.get("description", "").strip() or None}  # fmt: skip
    for name in WHOLE:
        if form.get(name, "").strip():
            body[_camel(name)] = parse_int(form.get(name), field=name)
    for name in POUNDS:
        if form.get(name, "").strip():
            body[_camel(name) + "Minor"] = parse_pounds(form.get(name), field=name)
    body["firstPurchaseOnly"] = "first_purchase_only" in form
    body["autoApply"] = "auto_apply" in form
    body["startsAt"] = _instant(form.get("starts_at"))
    body["endsAt"] = _instant(form.get("ends_at"))
    if package_ids:
        body["packageIds"] = package_ids
    return body


async def _list_page(
    request: Request, db: Db, *, values: dict[str, str] | None = None,
    error: str | None = None, status: int = 200,
) -> Response:  # fmt: skip
    return render(
        request, "admin/promotions.html", status,
        promotions=await promotions.list_all(db),
        packages=await catalog.list_packages(db, include_inactive=True),
        values=values or {}, error=error, section="promotions",
    )  # fmt: skip


@router.get("/admin/promotions")
async def promotions_page(request: Request, _: PageAdmin, db: RequestDb) -> Response:
    return await _list_page(request, db)


@router.post("/admin/promotions", dependencies=[Csrf])
async def create(request: Request, admin: PageAdmin, db: RequestDb, form: Form) -> Response:
    raw = await request.form()
    package_ids = [str(v) for v in raw.getlist("package_ids")]
    try:
        body = validated(PromotionCreate, _create_body(form, package_ids))
        made = await promotions.create(db, body, admin.id)
    except (FormInvalid, AppError) as exc:
        status = status_of(exc) if isinstance(exc, AppError) else 422
        return await _list_page(request, db, values=dict(form), error=exc.message, status=status)
    return redirect(request, f"/admin/promotions/{made.id}")


async def _detail(
    request: Request, db: Db, promotion_id: uuid.UUID, *, error: str | None = None,
    status: int = 200,
) -> Response:  # fmt: skip
    return render(
        request, "admin/promotion.html", status,
        promotion=await promotions.get(db, promotion_id),
        redemptions=await promotions.redemptions(db, promotion_id, limit=REDEMPTIONS_SHOWN),
        error=error, section="promotions",
    )  # fmt: skip


@router.get("/admin/promotions/{promotion_id}")
async def detail(request: Request, promotion_id: str, _: PageAdmin, db: RequestDb) -> Response:
    return await _detail(request, db, _promotion_id(promotion_id))


@router.post("/admin/promotions/{promotion_id}", dependencies=[Csrf])
async def update(
    request: Request, promotion_id: str, _: PageAdmin, db: RequestDb, form: Form
) -> Response:
    target = _promotion_id(promotion_id)
    changes: dict[str, Any] = {"description": form.get("description", "").strip() or None}
    try:
        if form.get("max_redemptions", "").strip():
            changes["maxRedemptions"] = parse_int(form.get("max_redemptions"), field="limit")
        if form.get("ends_at", "").strip():
            changes["endsAt"] = _instant(form.get("ends_at"))
        await promotions.update(db, target, validated(PromotionUpdate, changes))
    except (FormInvalid, AppError) as exc:
        status = status_of(exc) if isinstance(exc, AppError) else 422
        return await _detail(request, db, target, error=exc.message, status=status)
    return redirect(request, f"/admin/promotions/{target}")


@router.post("/admin/promotions/{promotion_id}/active", dependencies=[Csrf])
async def set_active(
    request: Request, promotion_id: str, _: PageAdmin, db: RequestDb, form: Form
) -> Response:
    target = _promotion_id(promotion_id)
    try:
        await promotions.update(db, target, PromotionUpdate(active=form.get("active") == "true"))
    except AppError as exc:
        return await _detail(request, db, target, error=exc.message, status=status_of(exc))
    return redirect(request, f"/admin/promotions/{target}")
