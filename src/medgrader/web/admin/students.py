"""/admin/students: search, a student's record, and credit adjustments (the admin service)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from medgrader.admin import service as adjustments
from medgrader.backoffice import repository as records
from medgrader.core.deps import RequestDb
from medgrader.core.errors import AppError
from medgrader.core.statuses import status_of
from medgrader.credits import service as credits
from medgrader.db.session import Db
from medgrader.holds import service as holds
from medgrader.ledger.service import StudentNotFound
from medgrader.lots import service as lots
from medgrader.payments import service as payments
from medgrader.topups import service as top_ups
from medgrader.web.admin.payments import payments_with_emails
from medgrader.web.deps import Csrf, Form, PageAdmin
from medgrader.web.money import parse_int
from medgrader.web.rendering import redirect, render
from medgrader.web.top_up_panel import top_up_package_names

router = APIRouter(include_in_schema=False)
PAGE = 50
Page = Annotated[int, Query(ge=0, le=10_000)]


def _student_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise StudentNotFound() from None


@router.get("/admin/students")
async def students(
    request: Request,
    _: PageAdmin,
    db: RequestDb,
    q: Annotated[str | None, Query(max_length=200)] = None,
    page: Page = 0,
) -> Response:
    query = (q or "").strip() or None
    rows = await records.students(db, query, limit=PAGE + 1, offset=page * PAGE)
    return render(
        request,
        "admin/students.html",
        students=rows[:PAGE],
        more=len(rows) > PAGE,
        q=query or "",
        page=page,
        section="students",
    )


async def _student_page(
    request: Request,
    db: Db,
    student_id: uuid.UUID,
    *,
    cursor: str | None = None,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    student = await records.student(db, student_id)
    if student is None:
        raise StudentNotFound()
    page = await payments.list_payments(db, limit=20, cursor=None, student_id=student_id)
    return render(
        request,
        "admin/student.html",
        status,
        student=student,
        balances=await credits.get_balances(db, student_id),
        # What GET /api/credits/holds?status=ACTIVE shows the student (live sessions now).
        active_holds=await holds.list_holds(db, student_id, status="ACTIVE", limit=50),
        history=await credits.list_transactions(db, student_id, limit=25, cursor=cursor),
        credit_lots=await lots.lots_of(db, student_id, limit=50),
        rows=await payments_with_emails(db, page),
        payments_more=page.next_cursor is not None,
        sessions=await records.checkout_sessions(db, student_id, limit=20),
        top_up=await top_ups.settings_out(db, student_id),
        package_names=await top_up_package_names(db),
        adjustment_key=str(uuid.uuid4()),
        error=error,
        notice=notice,
        section="students",
    )


@router.get("/admin/students/{student_id}")
async def student(
    request: Request,
    student_id: str,
    _: PageAdmin,
    db: RequestDb,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    adjusted: Annotated[int | None, Query()] = None,
) -> Response:
    notice = f"Adjustment posted: {adjusted:+,} credits." if adjusted is not None else None
    return await _student_page(request, db, _student_id(student_id), cursor=cursor, notice=notice)


@router.post("/admin/students/{student_id}/adjustments", dependencies=[Csrf])
async def adjust(
    request: Request, student_id: str, admin: PageAdmin, db: RequestDb, form: Form
) -> Response:
    """POST /api/admin/students/{id}/credit-adjustments's service. The form carries a fresh
    idempotency key, so a double-clicked or resent form posts one adjustment."""
    target = _student_id(student_id)
    try:
        amount = parse_int(form.get("amount"), field="amount")
        await adjustments.adjust_credits(
            db,
            student_id=target,
            amount=amount,
            reason=form.get("reason", ""),
            actor_id=admin.id,
            idempotency_key=form.get("idempotency_key") or None,
        )
    except StudentNotFound:
        raise
    except AppError as exc:
        # A refusal recorded under the form's key commits with this page (its transaction
        # is kept), so the resent form answers the same.
        return await _student_page(request, db, target, error=exc.message, status=status_of(exc))
    return redirect(request, f"/admin/students/{target}?adjusted={amount}")


@router.get("/admin/students/{student_id}/history")
async def history_rows(
    request: Request,
    student_id: str,
    _: PageAdmin,
    db: RequestDb,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The next page of a student's ledger rows, for the "Older entries" button (HTMX)."""
    target = _student_id(student_id)
    history = await credits.list_transactions(db, target, limit=25, cursor=cursor)
    return render(
        request,
        "partials/history_rows.html",
        history=history,
        history_url=f"/admin/students/{target}/history",
    )
