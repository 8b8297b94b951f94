"""Refunding from a payment's page: the refund service's preview first (what the refund
returns and the credits it takes back), then the refund itself on confirmation."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from medgrader.core.context import short_transaction
from medgrader.core.deps import Ctx, DbSession
from medgrader.core.errors import AppError
from medgrader.payments import refunds
from medgrader.payments.service import parse_payment_id
from medgrader.web.admin.payments import payment_page
from medgrader.web.deps import Csrf, Form, PageAdmin
from medgrader.web.money import parse_pounds
from medgrader.web.rendering import redirect

router = APIRouter(include_in_schema=False)
REASONS = ("requested_by_customer", "duplicate", "fraudulent")
Text = Annotated[str | None, Query(max_length=500)]


def _amount(raw: str | None) -> int | None:
    """Pounds as typed; blank means everything still refundable."""
    return parse_pounds(raw) if raw and raw.strip() else None


def _pence(form: dict[str, str]) -> int | None:
    """The confirmed amount, carried in pence from the preview (blank: all that is left)."""
    raw = form.get("amount_pence", "")
    return int(raw) if raw.isdigit() and len(raw) <= 9 else None


@router.get("/admin/payments/{payment}/refund")
async def preview(
    request: Request,
    payment: str,
    admin: PageAdmin,
    session: DbSession,
    amount: Text = None,
    reason: Text = None,
    note: Text = None,
) -> Response:
    """Step one: what this refund would do, shown before anything is sent to Stripe."""
    target = parse_payment_id(payment)
    try:
        shown = await refunds.preview_refund(session, target, _amount(amount))
    except AppError as exc:
        if exc.status_code == 404:
            raise
        return await payment_page(request, session, admin, str(target), status=exc.status_code,
                                  error=exc.message)  # fmt: skip
    return await payment_page(
        request,
        session,
        admin,
        str(target),
        preview=shown,
        refund_values={"reason": reason if reason in REASONS else "", "note": note or ""},
        refund_key=str(uuid.uuid4()),
    )


@router.post("/admin/payments/{payment}/refund", dependencies=[Csrf])
async def refund(
    request: Request, payment: str, admin: PageAdmin, ctx: Ctx, form: Form
) -> Response:
    """Step two: the refund service (as POST /api/admin/payments/{id}/refunds), with the
    preview's idempotency key so a resent form refunds once. It opens its own short
    transactions around the Stripe call, so none is open here."""
    target = parse_payment_id(payment)
    amount = _pence(form)
    try:
        outcome = await refunds.refund_payment(
            ctx,
            payment_id=target,
            admin_id=admin.id,
            amount=amount,
            reason=form.get("reason") if form.get("reason") in REASONS else None,
            note=(form.get("note") or "").strip()[:500] or None,
            allow_negative_balance=form.get("allow_negative_balance") == "true",
            idempotency_key=form.get("idempotency_key") or None,
        )
    except AppError as exc:
        if exc.status_code == 404:
            raise
        async with short_transaction(ctx) as session:
            return await payment_page(request, session, admin, str(target),
                                      status=exc.status_code, error=exc.message)  # fmt: skip
    if outcome.status == 201:
        return redirect(request, f"/admin/payments/{target}?refunded={outcome.body['amount']}")
    async with short_transaction(ctx) as session:
        shown = None
        if outcome.body.get("code") == "credits_already_spent":
            shown = await refunds.preview_refund(session, target, amount)
        return await payment_page(
            request,
            session,
            admin,
            str(target),
            status=outcome.status,
            error=outcome.body.get("error"),
            refusal=outcome.body,
            preview=shown,
            refund_values={"reason": form.get("reason", ""), "note": form.get("note", "")},
            refund_key=str(uuid.uuid4()),
        )
