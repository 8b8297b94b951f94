"""Reading payment records: one payment with its refunds and dispute, and paginated lists."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from medgrader.auth.access import may_see
from medgrader.auth.users import User
from medgrader.core.cursor import decode_uuid_position, encode_position
from medgrader.core.errors import Unprocessable
from medgrader.db.session import Db
from medgrader.models.payments import PaymentStatus
from medgrader.payments import repository
from medgrader.payments.errors import PaymentNotFound
from medgrader.payments.schemas import DisputeOut, PaymentOut, PaymentPage, RefundOut


def parse_payment_id(payment_id: uuid.UUID | str) -> uuid.UUID:
    if isinstance(payment_id, uuid.UUID):
        return payment_id
    try:
        return uuid.UUID(payment_id)
    except ValueError as exc:
        raise PaymentNotFound() from exc  # a malformed id names nothing: 404, like a stranger's


def refund_out(row: Any) -> RefundOut:
    return RefundOut(
        id=row.stripe_refund_id,
        payment_id=row.payment_id,
        amount=row.amount_pence,
        status=row.status.upper(),
        credits_clawed_back=row.credits_clawed_back,
        reason=row.reason,
        note=row.note,
        failure_reason=row.failure_reason,
        created_at=row.stripe_created_at,
    )


def _payment(row: Row[Any], refunds: list[RefundOut], dispute: DisputeOut | None) -> PaymentOut:
    return PaymentOut(
        id=row.id,
        student_id=row.student_id,
        type=row.type,
        status=row.status,
        amount=row.amount_pence,
        amount_refunded=row.amount_refunded_pence,
        amount_disputed=row.amount_disputed_pence,
        credits_clawed_back=row.credits_clawed_back,
        currency=row.currency,
        credits=row.credits,
        package_name=row.package_name,
        stripe_checkout_session_id=row.stripe_checkout_session_id,
        stripe_invoice_id=row.stripe_invoice_id,
        stripe_subscription_id=row.stripe_subscription_id,
        stripe_payment_intent_id=row.stripe_payment_intent_id,
        stripe_charge_id=row.stripe_charge_id,
        paid_at=row.paid_at,
        receipt_sent_at=row.receipt_sent_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        refunds=refunds,
        dispute=dispute,
    )


async def _with_returns(db: Db, rows: list[Row[Any]]) -> list[PaymentOut]:
    """The payments with their refunds and dispute: two queries for the whole page."""
    ids = [row.id for row in rows]
    if not ids:
        return []
    refunds: dict[uuid.UUID, list[RefundOut]] = {i: [] for i in ids}
    for refund in await repository.refunds_of(db, ids):
        refunds[refund.payment_id].append(refund_out(refund))
    disputes = {
        d.payment_id: DisputeOut(
            id=d.stripe_dispute_id,
            amount=d.amount_pence,
            status=d.status,
            reason=d.reason,
            funds_withdrawn=d.funds_withdrawn_pence,
        )
        for d in await repository.disputes_of(db, ids)
    }
    return [_payment(row, refunds[row.id], disputes.get(row.id)) for row in rows]


async def get_payment(db: Db, user: User, payment_id: str) -> PaymentOut:
    row = await repository.by_id(db, parse_payment_id(payment_id))
    if row is None or not may_see(user, row.student_id):
        raise PaymentNotFound()
    (payment,) = await _with_returns(db, [row])
    return payment


def parse_status_filter(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    value = raw.strip().upper()
    if value not in PaymentStatus.__members__:
        raise Unprocessable(f"status: one of {', '.join(PaymentStatus)}")
    return value


async def list_payments(
    db: Db,
    *,
    limit: int,
    cursor: str | None,
    student_id: uuid.UUID | None = None,
    status: str | None = None,
    package_name: str | None = None,
    from_ts: datetime | None = None,
    to_ts: datetime | None = None,
) -> PaymentPage:
    """Newest first; one student's (`student_id`) or everyone's, optionally filtered."""
    rows = await repository.page(
        db,
        limit=limit + 1,  # one more tells whether another page exists
        after=decode_uuid_position(cursor) if cursor else None,
        student_id=student_id,
        status=parse_status_filter(status),
        package_name=package_name,
        from_ts=from_ts,
        to_ts=to_ts,
    )
    page = rows[:limit]
    more = len(rows) > limit
    return PaymentPage(
        items=await _with_returns(db, page),
        next_cursor=encode_position(page[-1].created_at, page[-1].id) if more and page else None,
    )
