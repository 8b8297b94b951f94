"""/admin/payments: the list with filters and a payment's page (Stripe ids, refunds,
dispute), on the payments service that /api/admin/payments uses."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from medgrader.analytics import service as analytics
from medgrader.auth import repository as users
from medgrader.auth.users import User
from medgrader.backoffice import repository as records
from medgrader.catalog import service as catalog
from medgrader.core.deps import Ctx, RequestDb
from medgrader.core.money import format_money
from medgrader.db.session import Db
from medgrader.db.transactions import external_call
from medgrader.documents import service as documents
from medgrader.models.payments import PaymentStatus
from medgrader.payments import charges, refunds
from medgrader.payments import service as payments_service
from medgrader.payments.schemas import PaymentPage
from medgrader.web.deps import PageAdmin
from medgrader.web.rendering import render

router = APIRouter(include_in_schema=False)
PAGE = 50
Text = Annotated[str | None, Query(max_length=200)]


async def _student_filter(db: Db, raw: str | None) -> uuid.UUID | bool | None:
    """A student id, or an email (exact, any case): the id; False when it names nobody."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        user = await users.user_by_email(db, text)
        return user.id if user is not None else False


async def payments_with_emails(db: Db, page: PaymentPage) -> list[dict[str, object]]:
    emails = await records.emails_of(db, [p.student_id for p in page.items])
    return [{"p": p, "email": emails.get(p.student_id, "")} for p in page.items]


@router.get("/admin/payments")
async def payments(
    request: Request,
    _: PageAdmin,
    db: RequestDb,
    status: Text = None,
    package: Text = None,
    student: Text = None,
    from_: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    to: Annotated[str | None, Query(max_length=10)] = None,
    cursor: Text = None,
) -> Response:
    first, last = analytics.parse_day(from_), analytics.parse_day(to)
    days = analytics.day_range(first or last, last or first) if first or last else None
    student_id = await _student_filter(db, student)
    page = PaymentPage(items=[], next_cursor=None)
    if student_id is not False:
        page = await payments_service.list_payments(
            db,
            limit=PAGE,
            cursor=cursor,
            student_id=student_id or None,
            status=status if status in set(PaymentStatus) else None,
            package_name=package or None,
            from_ts=days.start if days else None,
            to_ts=days.end if days else None,
        )
    return render(
        request,
        "admin/payments.html",
        rows=await payments_with_emails(db, page),
        next_cursor=page.next_cursor,
        statuses=list(PaymentStatus),
        packages=[p.name for p in await catalog.list_packages(db, include_inactive=True)],
        filters={
            "status": status or "",
            "package": package or "",
            "student": student or "",
            "from": from_ or "",
            "to": to or "",
        },
        section="payments",
    )


async def payment_page(
    request: Request,
    db: Db,
    admin: User,
    target: str,
    *,
    status: int = 200,
    **extra: object,
) -> Response:
    payment = await payments_service.get_payment(db, admin, target)
    emails = await records.emails_of(db, [payment.student_id])
    extra.setdefault("preview", None)
    # What is left to refund, and the balance it would come out of, for the Refund form.
    extra.setdefault("standing", await refunds.preview_refund(db, payment.id))
    refunded = request.query_params.get("refunded", "")
    if refunded.isdigit() and "notice" not in extra:
        extra["notice"] = f"Refund of {format_money(int(refunded))} sent to Stripe."
    return render(
        request,
        "admin/payment.html",
        status,
        payment=payment,
        documents=await documents.payment_documents(db, admin, payment.id),
        email=emails.get(payment.student_id, ""),
        section="payments",
        **extra,
    )


@router.get("/admin/payments/{payment}")
async def payment(
    request: Request, payment: str, admin: PageAdmin, ctx: Ctx, db: RequestDb
) -> Response:
    target = payments_service.parse_payment_id(payment)
    intent = await charges.intent_to_ask(db, target)
    if intent is not None:  # the charge, learnt from Stripe with no connection held
        async with external_call(db):
            charge = await charges.ask_stripe(ctx, target, intent)
        if charge is not None:
            await charges.record_charge(db, target, charge)
    return await payment_page(request, db, admin, payment)
