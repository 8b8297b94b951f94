"""Reading payment records."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from medgrader.auth.access import may_see
from medgrader.core.errors import NotFound
from medgrader.models.users import User
from medgrader.payments import repository
from medgrader.payments.schemas import PaymentOut


class PaymentNotFound(NotFound):
    code, message = "payment_not_found", "No such payment."


async def get_payment(session: AsyncSession, user: User, payment_id: str) -> PaymentOut:
    try:
        parsed = uuid.UUID(payment_id)
    except ValueError as exc:
        raise PaymentNotFound() from exc  # a malformed id names nothing: 404, like a stranger's
    row = await repository.by_id(session, parsed)
    if row is None or not may_see(user, row.student_id):
        raise PaymentNotFound()
    return PaymentOut(
        id=row.id,
        student_id=row.student_id,
        type=row.type,
        status=row.status,
        amount=row.amount_pence,
        amount_refunded=row.amount_refunded_pence,
        currency=row.currency,
        credits=row.credits,
        package_name=row.package_name,
        stripe_checkout_session_id=row.stripe_checkout_session_id,
        stripe_payment_intent_id=row.stripe_payment_intent_id,
        paid_at=row.paid_at,
        receipt_sent_at=row.receipt_sent_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
