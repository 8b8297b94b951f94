"""The wallet's automatic top-up forms: turn it on or off, save a card (Stripe's setup page),
remove the card, and the failure email's "confirm and pay" link. The same flows as the JSON
API (topups.flows); a refusal re-renders the wallet with its message."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from medgrader.core.deps import Ctx, RequestDb
from medgrader.core.errors import AppError
from medgrader.core.statuses import status_of
from medgrader.topups import flows
from medgrader.topups.schemas import AutoTopUpIn
from medgrader.web.deps import Csrf, Form, PageStudent
from medgrader.web.money import parse_int
from medgrader.web.rendering import redirect
from medgrader.web.wallet_pages import wallet_page

router = APIRouter(include_in_schema=False)
PANEL = "/wallet#auto-top-up"


@router.post("/wallet/auto-top-up", dependencies=[Csrf])
async def save_settings(
    request: Request, user: PageStudent, db: RequestDb, ctx: Ctx, form: Form
) -> Response:
    try:
        body = AutoTopUpIn(
            enabled=form.get("enabled") == "true",
            threshold_credits=parse_int(form.get("threshold"), field="threshold"),
            package_id=uuid.UUID(form.get("package_id", "")),
            monthly_limit_minor=parse_int(form.get("monthly_limit_pounds"), field="limit") * 100,
        )
        await flows.put_settings(db, ctx, user, body)
    except (ValueError, ValidationError):
        return await wallet_page(request, db, user, error="Check the top-up settings.", status=422)
    except AppError as exc:
        return await wallet_page(request, db, user, error=exc.message, status=status_of(exc))
    return redirect(request, PANEL)


@router.post("/wallet/cards/setup", dependencies=[Csrf])
async def save_card(request: Request, user: PageStudent, db: RequestDb, ctx: Ctx) -> Response:
    """Stripe's page in setup mode: saves a card without buying."""
    try:
        created = await flows.start_card_setup(db, ctx, user)
    except AppError as exc:
        return await wallet_page(request, db, user, error=exc.message, status=status_of(exc))
    return redirect(request, created.session_url)


@router.post("/wallet/cards/{payment_method_id}/remove", dependencies=[Csrf])
async def remove_card(
    request: Request, payment_method_id: str, user: PageStudent, db: RequestDb, ctx: Ctx
) -> Response:
    try:
        await flows.remove_card(db, ctx, user, payment_method_id[:255])
    except AppError as exc:
        return await wallet_page(request, db, user, error=exc.message, status=status_of(exc))
    return redirect(request, PANEL)


@router.get("/wallet/top-ups/{attempt_id}/pay")
async def pay_failed_top_up(
    request: Request, attempt_id: uuid.UUID, user: PageStudent, db: RequestDb, ctx: Ctx
) -> Response:
    """The authentication email's link: the attempt's one on-session Checkout (a second click
    opens the same session, so the link never charges twice)."""
    try:
        created = await flows.recover(db, ctx, user, attempt_id)
    except AppError as exc:
        return await wallet_page(request, db, user, error=exc.message, status=status_of(exc))
    return redirect(request, created.session_url)
