"""The documents' statements: the payment they are issued for (locked), the documents it has,
the refunds and disputes that call for notes, and the one statement that numbers and inserts
a document.

Gap-free numbering: `ISSUE` takes the series' next number with an upsert on its counter row
(INSERT ... ON CONFLICT DO UPDATE ... RETURNING), which holds the row's lock until the issuing
transaction ends, and inserts the document in the same statement. Two issuers of one series
queue on that lock, so numbers are given in the order the documents commit; a transaction that
rolls back takes its increment with it, so no number is skipped, and the UNIQUE (series,
sequence) index makes reuse impossible. A series with no counter row yet (a new database, or a
test database wiped) starts at 1. The lock is held for one statement's worth of work plus the
commit: a serial point, which is why issuing happens in jobs, off the webhook's path.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import text

from medgrader.db.session import Db, no_rows

# THE seam for discounted purchases (promotions): the payment's price before any discount.
# A payment records what was paid (amount_pence); a promoted Checkout session records the
# discount it was sold with (checkout_sessions.discount_pence, 0 without a promotion), so the
# receipt shows the list price and the discount, and its VAT is on what was paid.
LIST_PRICE_SQL = """p.amount_pence + COALESCE(
    (SELECT cs.discount_pence FROM checkout_sessions cs WHERE cs.id = p.checkout_session_id), 0)"""

DOCUMENT_COLUMNS = """id, number, series, sequence, type, form, payment_id, student_id,
    receipt_id, refund_id, dispute_id, cancels_id, issued_at, supplied_at, currency,
    seller_name, seller_address, seller_vat_number, buyer_name, buyer_email, buyer_address,
    buyer_company, buyer_vat_number, description, quantity, list_total_minor, discount_minor,
    total_minor, vat_minor, net_minor, vat_rate_percent"""

_LOCK_PAYMENT = text(
    f"""
    SELECT p.id, p.student_id, p.amount_pence, {LIST_PRICE_SQL} AS list_price, p.currency,
           p.credits, p.package_name, p.paid_at, u.email, s.first_name, s.last_name,
           -- Whether any note may be due (else a round trip is saved). A refund recorded by a
           -- transaction we waited on may be missed here: that transaction deferred its own
           -- documents job, which sees it.
           (EXISTS (SELECT 1 FROM refunds r WHERE r.payment_id = p.id
                                              AND r.succeeded_at IS NOT NULL)
            OR EXISTS (SELECT 1 FROM disputes x WHERE x.payment_id = p.id
                                                  AND x.status = 'lost')) AS has_returns,
           b.name AS billing_name, b.address_line1, b.address_line2, b.city, b.postcode,
           b.country, b.company_name, b.vat_number AS billing_vat_number
      FROM payments p
      JOIN users u ON u.id = p.student_id
      JOIN student_profiles s ON s.user_id = p.student_id
      LEFT JOIN billing_details b ON b.student_id = p.student_id
     WHERE p.id = :id
       FOR UPDATE OF p
    """  # noqa: S608 - only the constant seam is interpolated
)
# A statement of its own after the lock: under READ COMMITTED it sees what a concurrent issuer
# committed while we waited (a join in the locking statement would not).
_DOCUMENTS_OF_PAYMENT = text(
    f"SELECT {DOCUMENT_COLUMNS} FROM documents WHERE payment_id = :id ORDER BY series, sequence"  # noqa: S608
)
_RETURNS_OF_PAYMENT = text(
    """
    SELECT 'refund' AS kind, id, stripe_refund_id AS stripe_id, amount_pence, status,
           succeeded_at AS due_at
      FROM refunds WHERE payment_id = :id AND succeeded_at IS NOT NULL
    UNION ALL
    SELECT 'dispute', id, stripe_dispute_id, amount_pence, status, updated_at
      FROM disputes WHERE payment_id = :id AND status = 'lost'
     ORDER BY due_at, id
    """
)
ISSUE = text(
    f"""
    WITH counter AS (
        INSERT INTO document_counters AS c (series, last_number) VALUES (:series, 1)
        ON CONFLICT (series) DO UPDATE SET last_number = c.last_number + 1
        RETURNING last_number
    )
    INSERT INTO documents (
        number, series, sequence, type, form, payment_id, student_id, receipt_id, refund_id,
        dispute_id, cancels_id, issued_at, supplied_at, currency, seller_name, seller_address,
        seller_vat_number, buyer_name, buyer_email, buyer_address, buyer_company,
        buyer_vat_number, description, quantity, list_total_minor, discount_minor, total_minor,
        vat_minor, net_minor, vat_rate_percent)
    SELECT CAST(:prefix AS text)
               || lpad(last_number::text, GREATEST(6, length(last_number::text)), '0'),
           :series, last_number, :type, :form, :payment_id, :student_id, :receipt_id,
           :refund_id, :dispute_id, :cancels_id,
           -- The time of the number: clock_timestamp() after the counter's lock, so that
           -- issue times follow the numbers (now() is the transaction's start).
           clock_timestamp(), :supplied_at, :currency, :seller_name, :seller_address,
           :seller_vat_number, :buyer_name, :buyer_email, :buyer_address, :buyer_company,
           :buyer_vat_number, :description, :quantity, :list_total, :discount, :total, :vat,
           :net, :rate
      FROM counter
    RETURNING {DOCUMENT_COLUMNS}
    """  # noqa: S608 - only the constant column list is interpolated
)


async def lock_payment(db: Db, payment_id: uuid.UUID) -> Any | None:
    """The payment, its buyer and their billing details, the payment locked (FOR UPDATE):
    issuers of one payment's documents (and its returns) queue up."""
    return (await db.execute(_LOCK_PAYMENT, {"id": payment_id})).one_or_none()


async def documents_of(db: Db, payment_id: uuid.UUID) -> list[Any]:
    return (await db.execute(_DOCUMENTS_OF_PAYMENT, {"id": payment_id})).all()


async def returns_due(db: Db, payment_id: uuid.UUID) -> list[Any]:
    """Refunds ever seen succeeded and disputes lost: each calls for a credit note."""
    return (await db.execute(_RETURNS_OF_PAYMENT, {"id": payment_id})).all()


async def issue(db: Db, values: dict[str, Any]) -> Any:
    """Number and insert one document (see the module docstring); returns its row."""
    return (await db.execute(ISSUE, values)).one()


_BY_NUMBER = text(f"SELECT {DOCUMENT_COLUMNS} FROM documents WHERE number = :number")  # noqa: S608


async def by_number(db: Db, number: str) -> Any | None:
    return (await db.execute(_BY_NUMBER, {"number": number})).one_or_none()


_NUMBERS = text("SELECT id, number FROM documents WHERE id = ANY(:ids)")


async def numbers_of(db: Db, ids: list[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    return {row.id: row.number for row in await db.execute(_NUMBERS, {"ids": wanted})}


_PAYMENT_OWNER = text("SELECT student_id FROM payments WHERE id = :id")


async def payment_owner(db: Db, payment_id: uuid.UUID) -> uuid.UUID | None:
    row = (await db.execute(_PAYMENT_OWNER, {"id": payment_id})).one_or_none()
    return None if row is None else row.student_id


_LIST_OF_PAYMENT = text(
    f"""SELECT {DOCUMENT_COLUMNS} FROM documents WHERE payment_id = :id
         ORDER BY issued_at, series, sequence"""  # noqa: S608
)


_NOTES_OF_STRIPE_OBJECT = text(
    f"""
    SELECT {", ".join("d." + c.strip() for c in DOCUMENT_COLUMNS.split(","))}
      FROM documents d
      LEFT JOIN refunds r ON r.id = d.refund_id
      LEFT JOIN disputes x ON x.id = d.dispute_id
     WHERE d.payment_id = :payment_id
       AND :stripe_id IN (r.stripe_refund_id, x.stripe_dispute_id)
     ORDER BY d.sequence
    """  # noqa: S608 - only the constant column list is interpolated
)


async def notes_of_stripe_object(db: Db, payment_id: uuid.UUID, stripe_id: str | None) -> list[Any]:
    """The credit and debit notes of one refund or dispute (by Stripe's id)."""
    if stripe_id is None:
        return []
    params = {"payment_id": payment_id, "stripe_id": stripe_id}
    return (await db.execute(_NOTES_OF_STRIPE_OBJECT, params)).all()


async def list_of_payment(db: Db, payment_id: uuid.UUID) -> list[Any]:
    return (await db.execute(_LIST_OF_PAYMENT, {"id": payment_id})).all()


# Payments that have no receipt yet (oldest first: backfill issues in payment order), and
# payments whose refunds or lost disputes have no note yet.
_MISSING_WHERE = """
     WHERE p.created_at < :before
       AND (NOT EXISTS (SELECT 1 FROM documents d
                         WHERE d.payment_id = p.id AND d.type = 'RECEIPT')
            OR EXISTS (SELECT 1 FROM refunds r
                        WHERE r.payment_id = p.id AND r.succeeded_at IS NOT NULL
                          AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.refund_id = r.id
                                             AND d.type = 'CREDIT_NOTE'))
            OR EXISTS (SELECT 1 FROM refunds r
                        WHERE r.payment_id = p.id AND r.succeeded_at IS NOT NULL
                          AND r.status IN ('failed', 'canceled')
                          AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.refund_id = r.id
                                             AND d.type = 'DEBIT_NOTE'))
            OR EXISTS (SELECT 1 FROM disputes x
                        WHERE x.payment_id = p.id AND x.status = 'lost'
                          AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.dispute_id = x.id)))
"""
_MISSING = text(
    f"SELECT p.id FROM payments p {_MISSING_WHERE} ORDER BY p.paid_at, p.id LIMIT :limit"  # noqa: S608
)
_COUNT_MISSING = text(f"SELECT count(*) FROM payments p {_MISSING_WHERE}")  # noqa: S608


async def payments_missing_documents(db: Db, *, before: datetime, limit: int) -> list[uuid.UUID]:
    rows = (await db.execute(_MISSING, {"before": before, "limit": limit})).all()
    return [row.id for row in rows]


async def count_missing_documents(db: Db, *, before: datetime) -> int:
    return int((await db.execute(_COUNT_MISSING, {"before": before})).scalar_one())


_UPSERT_BILLING = no_rows(
    text(
        """
    INSERT INTO billing_details (student_id, name, address_line1, address_line2, city,
                                 postcode, country, company_name, vat_number)
    VALUES (:student_id, :name, :address_line1, :address_line2, :city, :postcode, :country,
            :company_name, :vat_number)
    ON CONFLICT (student_id) DO UPDATE SET
        name = EXCLUDED.name, address_line1 = EXCLUDED.address_line1,
        address_line2 = EXCLUDED.address_line2, city = EXCLUDED.city,
        postcode = EXCLUDED.postcode, country = EXCLUDED.country,
        company_name = EXCLUDED.company_name, vat_number = EXCLUDED.vat_number,
        updated_at = now()
    """
    )
)
_BILLING = text(
    """SELECT name, address_line1, address_line2, city, postcode, country, company_name,
              vat_number, updated_at
         FROM billing_details WHERE student_id = :student_id"""
)


async def save_billing(db: Db, values: dict[str, Any]) -> None:
    await db.execute(_UPSERT_BILLING, values)


async def billing_of(db: Db, student_id: uuid.UUID) -> Any | None:
    return (await db.execute(_BILLING, {"student_id": student_id})).one_or_none()


# The VAT return: each document issued on a London date in [from, to], signed by its type.
_IN_RANGE = """
    FROM documents
   WHERE issued_at >= (CAST(:first AS date)::timestamp AT TIME ZONE 'Europe/London')
     AND issued_at < ((CAST(:last AS date) + 1)::timestamp AT TIME ZONE 'Europe/London')
"""
REPORT_SQL = f"""
    SELECT COALESCE(SUM(net_minor) FILTER (WHERE type = 'RECEIPT'), 0) AS sales_net,
           COALESCE(SUM(vat_minor) FILTER (WHERE type = 'RECEIPT'), 0) AS sales_vat,
           COALESCE(SUM(CASE type WHEN 'CREDIT_NOTE' THEN net_minor
                                  WHEN 'DEBIT_NOTE' THEN -net_minor END), 0) AS notes_net,
           COALESCE(SUM(CASE type WHEN 'CREDIT_NOTE' THEN vat_minor
                                  WHEN 'DEBIT_NOTE' THEN -vat_minor END), 0) AS notes_vat,
           count(*) AS documents
    {_IN_RANGE}
    """
_REPORT = text(REPORT_SQL)
_REPORT_ROWS = text(f"SELECT {DOCUMENT_COLUMNS} {_IN_RANGE} ORDER BY issued_at, series, sequence")


async def report_sums(db: Db, first: date, last: date) -> Any:
    return (await db.execute(_REPORT, {"first": first, "last": last})).one()


def report_rows_statement() -> Any:
    return _REPORT_ROWS
