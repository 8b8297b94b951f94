"""/admin/payments: the list with filters and a payment's page (Stripe ids, refunds,
dispute)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from medgrader.analytics import service as analytics
from medgrader.backoffice import repository as records
from medgrader.core.deps import DbSession
from medgrader.models.payments import PaymentStatus
from medgrader.payments.service import PaymentNotFound
from medgrader.web.deps import PageAdmin
from medgrader.web.forms import optional_date
from medgrader.web.rendering import render

router = APIRouter(include_in_schema=False)
PAGE = 50
Text = Annotated[str | None, Query(max_length=200)]


def payment_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise PaymentNotFound() from None


@router.get("/admin/payments")
async def payments(
    request: Request,
    _: PageAdmin,
    session: DbSession,
    status: Text = None,
    package: Text = None,
    student: Text = None,
    from_: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    to: Annotated[str | None, Query(max_length=10)] = None,
    page: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> Response:
    first, last = optional_date(from_), optional_date(to)
    days = analytics.day_range(first or last, last or first) if first or last else None
    filters = records.PaymentFilters(
        status=status if status in set(PaymentStatus) else None,
        package=package or None,
        email=(student or "").strip() or None,
        start=days.start if days else None,
        end=days.end if days else None,
    )
    rows = await records.payments(session, filters, limit=PAGE + 1, offset=page * PAGE)
    return render(
        request,
        "admin/payments.html",
        payments=rows[:PAGE],
        more=len(rows) > PAGE,
        page=page,
        statuses=list(PaymentStatus),
        packages=await records.package_names(session),
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
    session: AsyncSession,
    target: uuid.UUID,
    *,
    status: int = 200,
    **extra: object,
) -> Response:
    row = await records.payment(session, target)
    if row is None:
        raise PaymentNotFound()
    return render(
        request,
        "admin/payment.html",
        status,
        payment=row,
        refunds=await records.refunds(session, target),
        disputes=await records.disputes(session, target),
        section="payments",
        **extra,
    )


@router.get("/admin/payments/{payment}")
async def payment(request: Request, payment: str, _: PageAdmin, session: DbSession) -> Response:
    return await payment_page(request, session, payment_id(payment))
