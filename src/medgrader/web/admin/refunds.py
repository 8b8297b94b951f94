"""Refunding from a payment's page: the refund service's preview first (what the refund
returns and the credits it takes back), then the refund itself on confirmation."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from medgrader.core.deps import Ctx, RequestDb
from medgrader.core.errors import AppError
from medgrader.core.statuses import status_of
from medgrader.payments import refunds
from medgrader.payments.errors import CreditsAlreadySpent
from medgrader.payments.flows import refund_payment
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
    db: RequestDb,
    amount: Text = None,
    reason: Text = None,
    note: Text = None,
) -> Response:
    """Step one: what this refund would do, shown before anything is sent to Stripe."""
    target = parse_payment_id(payment)
    try:
        shown = await refunds.preview_refund(db, target, _amount(amount))
    except AppError as exc:
        if status_of(exc) == 404:
            raise
        return await payment_page(request, db, admin, str(target), status=status_of(exc),
                                  error=exc.message)  # fmt: skip
    return await payment_page(
        request,
        db,
        admin,
        str(target),
        preview=shown,
        refund_values={"reason": reason if reason in REASONS else "", "note": note or ""},
        refund_key=str(uuid.uuid4()),
    )


@router.post("/admin/payments/{payment}/refund", dependencies=[Csrf])
async def refund(
    request: Request, payment: str, admin: PageAdmin, db: RequestDb, ctx: Ctx, form: Form
) -> Response:
    """Step two: the refund flow of POST /api/admin/payments/{id}/refunds, with the preview's
    idempotency key so a resent form refunds once. It holds no connection while Stripe
    answers (payments.flows)."""
    target = parse_payment_id(payment)
    amount = _pence(form)
    try:
        refunded = await refund_payment(
            db,
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
        if status_of(exc) == 404:
            raise
        # A refusal recorded under the key commits with this page (its transaction is kept).
        shown = None
        if isinstance(exc, CreditsAlreadySpent):
            shown = await refunds.preview_refund(db, target, amount)
        return await payment_page(
            request,
            db,
            admin,
            str(target),
            status=status_of(exc),
            error=exc.message,
            preview=shown,
            refund_values={"reason": form.get("reason", ""), "note": form.get("note", "")},
            refund_key=str(uuid.uuid4()),
        )
    return redirect(request, f"/admin/payments/{target}?refunded={refunded.refund.amount}")
