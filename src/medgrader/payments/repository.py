"""Queries for payment records."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row, text

from medgrader.db.session import Db, no_rows

_COLUMNS = """id, student_id, checkout_session_id, stripe_checkout_session_id,
              stripe_invoice_id, stripe_subscription_id, stripe_payment_intent_id,
              stripe_charge_id, type, status, amount_pence,
              amount_refunded_pence, amount_disputed_pence, credits_clawed_back, currency,
              credits, package_name, receipt_sent_at, paid_at, created_at, updated_at"""

# One statement completes our session row and records its Payment, copying the amount,
# currency, credits and package straight from the row (our record is the authority). The
# caller holds the row's lock and has checked it is not COMPLETED; should anything ever
# fulfil twice regardless, UNIQUE (checkout_session_id) and UNIQUE (stripe_checkout_session_id)
# refuse the second Payment and its whole transaction rolls back. The id is chosen here, so
# nothing has to wait for a RETURNING (see medgrader.db.session).
RECORD = no_rows(
    text(
        """
    WITH completed AS (
        UPDATE checkout_sessions
           SET status = 'COMPLETED', completed_at = now(), updated_at = now(),
               stripe_payment_intent_id = COALESCE(:intent, stripe_payment_intent_id)
         WHERE id = :checkout_session_id
        RETURNING id, student_id, stripe_session_id, stripe_payment_intent_id, amount_pence,
                  currency, credits, package_name
    )
    INSERT INTO payments (id, student_id, checkout_session_id, stripe_checkout_session_id,
                          stripe_payment_intent_id, type, status, amount_pence, currency, credits,
                          package_name, paid_at)
    SELECT :id, student_id, id, stripe_session_id, stripe_payment_intent_id, 'CREDITS',
           'SUCCEEDED', amount_pence, currency, credits, package_name, now()
      FROM completed
    """
    )
)
_BY_ID = text(f"SELECT {_COLUMNS} FROM payments WHERE id = :id")  # noqa: S608


async def record_payment(
    db: Db, *, checkout_session_id: uuid.UUID, payment_intent_id: str | None
) -> uuid.UUID:
    """Mark our checkout session COMPLETED and insert its Payment; returns the payment id.

    Precondition: in this transaction the caller has locked the session row (`FOR UPDATE`,
    checkout.repository.lock_by_stripe_id) and seen it exist and not be COMPLETED, as
    `fulfill_checkout` does. The result is deliberately not read (the statement is `no_rows`,
    so in pipeline mode it rides with the ledger posting in one round trip) and nothing
    checks that a row was written: under the lock the UPDATE always finds the row and the
    INSERT always adds one Payment. Called without the lock, a second fulfilment would fail
    on UNIQUE (checkout_session_id) and roll back whole (safe); an id that matches no row
    would insert no Payment while the caller still credits (unsafe): never do that.
    """
    payment_id = uuid.uuid4()
    await db.execute(
        RECORD,
        {"id": payment_id, "checkout_session_id": checkout_session_id, "intent": payment_intent_id},
    )
    return payment_id


async def by_id(db: Db, payment_id: uuid.UUID) -> Row[Any] | None:
    return (await db.execute(_BY_ID, {"id": payment_id})).one_or_none()


_REFUNDS_OF = text(
    """
    SELECT id, stripe_refund_id, payment_id, amount_pence, currency, status, reason, note,
           failure_reason, credits_clawed_back, actor_id, stripe_created_at, created_at
      FROM refunds WHERE payment_id = ANY(:ids)
     ORDER BY stripe_created_at, created_at, stripe_refund_id
    """
)
_REFUND_BY_STRIPE_ID = text(
    """
    SELECT id, stripe_refund_id, payment_id, amount_pence, currency, status, reason, note,
           failure_reason, credits_clawed_back, actor_id, stripe_created_at, created_at
      FROM refunds WHERE stripe_refund_id = :sid
    """
)
# A payment has one dispute at most (Stripe allows one per charge); the newest if ever more.
_DISPUTES_OF = text(
    """
    SELECT DISTINCT ON (payment_id) payment_id, stripe_dispute_id, amount_pence, currency,
           status, reason, funds_withdrawn_pence, stripe_created_at
      FROM disputes WHERE payment_id = ANY(:ids)
     ORDER BY payment_id, stripe_created_at DESC, id DESC
    """
)
# Keyset pages, newest first, optionally filtered (the admin list); NULL filters match all.
_PAGE = text(
    f"""
    SELECT {_COLUMNS} FROM payments
     WHERE (CAST(:student_id AS uuid) IS NULL OR student_id = CAST(:student_id AS uuid))
       AND (CAST(:status AS text) IS NULL OR status = CAST(:status AS text))
       AND (CAST(:package AS text) IS NULL OR package_name = CAST(:package AS text))
       AND (CAST(:from_ts AS timestamptz) IS NULL OR created_at >= CAST(:from_ts AS timestamptz))
       AND (CAST(:to_ts AS timestamptz) IS NULL OR created_at < CAST(:to_ts AS timestamptz))
       AND (CAST(:after_created AS timestamptz) IS NULL
            OR (created_at, id) < (CAST(:after_created AS timestamptz), CAST(:after_id AS uuid)))
     ORDER BY created_at DESC, id DESC
     LIMIT :limit
    """  # noqa: S608 - only the constant column list is interpolated
)


async def refunds_of(db: Db, payment_ids: list[uuid.UUID]) -> list[Row[Any]]:
    return list(await db.execute(_REFUNDS_OF, {"ids": payment_ids}))


async def refund_by_stripe_id(db: Db, stripe_refund_id: str) -> Row[Any] | None:
    return (await db.execute(_REFUND_BY_STRIPE_ID, {"sid": stripe_refund_id})).one_or_none()


async def disputes_of(db: Db, payment_ids: list[uuid.UUID]) -> list[Row[Any]]:
    return list(await db.execute(_DISPUTES_OF, {"ids": payment_ids}))


async def page(
    db: Db,
    *,
    limit: int,
    after: tuple[Any, uuid.UUID] | None,
    student_id: uuid.UUID | None = None,
    status: str | None = None,
    package_name: str | None = None,
    from_ts: Any = None,
    to_ts: Any = None,
) -> list[Row[Any]]:
    after_created, after_id = after if after is not None else (None, None)
    result = await db.execute(
        _PAGE,
        {
            "student_id": student_id,
            "status": status,
            "package": package_name,
            "from_ts": from_ts,
            "to_ts": to_ts,
            "after_created": after_created,
            "after_id": after_id,
            "limit": limit,
        },
    )
    return list(result)
