"""Queries for payment records."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row, text

from medgrader.webhooks.lean import SqlSession

_COLUMNS = """id, student_id, checkout_session_id, stripe_checkout_session_id,
              stripe_payment_intent_id, type, status, amount_pence, amount_refunded_pence,
              currency, credits, package_name, receipt_sent_at, paid_at, created_at, updated_at"""

# UNIQUE (stripe_checkout_session_id) and UNIQUE (checkout_session_id): a second Payment for
# one session cannot exist, whoever tries to write it.
# The id is chosen by the caller (so nothing has to wait for it: see webhooks.lean).
_INSERT = text(
    """
    INSERT INTO payments (id, student_id, checkout_session_id, stripe_checkout_session_id,
                          stripe_payment_intent_id, type, status, amount_pence, currency, credits,
                          package_name, paid_at)
    VALUES (:id, :student_id, :checkout_session_id, :stripe_checkout_session_id,
            :stripe_payment_intent_id, 'CREDITS', 'SUCCEEDED', :amount_pence, :currency, :credits,
            :package_name, now())
    """
)
_BY_ID = text(f"SELECT {_COLUMNS} FROM payments WHERE id = :id")  # noqa: S608
_RECEIPT = text(
    """
    SELECT p.id, p.credits, p.amount_pence, p.currency, p.package_name, p.paid_at,
           p.receipt_sent_at, u.email, s.first_name
      FROM payments p
      JOIN users u ON u.id = p.student_id
      JOIN student_profiles s ON s.user_id = p.student_id
     WHERE p.id = :id
       FOR UPDATE OF p
    """
)
_RECEIPT_SENT = text(
    "UPDATE payments SET receipt_sent_at = now(), updated_at = now() WHERE id = :id"
)


async def insert(session: SqlSession, **values: Any) -> uuid.UUID:
    payment_id = uuid.uuid4()
    await session.execute(_INSERT, {"id": payment_id, **values})
    return payment_id


async def by_id(session: SqlSession, payment_id: uuid.UUID) -> Row[Any] | None:
    return (await session.execute(_BY_ID, {"id": payment_id})).one_or_none()


async def lock_for_receipt(session: SqlSession, payment_id: uuid.UUID) -> Row[Any] | None:
    """The payment and its addressee, locked so that two senders cannot both send."""
    return (await session.execute(_RECEIPT, {"id": payment_id})).one_or_none()


async def mark_receipt_sent(session: SqlSession, payment_id: uuid.UUID) -> None:
    await session.execute(_RECEIPT_SENT, {"id": payment_id})
