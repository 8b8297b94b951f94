"""CSV exports of payments and ledger entries for a range of London days, streamed.

Rows come from a server-side cursor in batches (`Db.stream`, in a streaming unit of work that
the page opens: web.admin.exports) and leave as CSV lines as they arrive: an export of a
million entries never sits in memory. Cells that a spreadsheet would run as a formula (text
starting with = + - @) are prefixed with a quote.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text

from medgrader.core.money import pounds_value
from medgrader.db.session import Db

BATCH = 2000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

PAYMENT_COLUMNS = (
    "payment_id", "paid_at", "student_id", "email", "package", "credits", "status",
    "amount_pence", "amount_gbp", "refunded_pence", "disputed_pence", "credits_clawed_back",
    "currency", "stripe_checkout_session_id", "stripe_payment_intent_id", "stripe_charge_id",
)  # fmt: skip
_PAYMENTS = text(
    """
    SELECT p.id, p.paid_at, p.student_id, u.email, p.package_name, p.credits, p.status,
           p.amount_pence, p.amount_refunded_pence, p.amount_disputed_pence,
           p.credits_clawed_back, p.currency, p.stripe_checkout_session_id,
           p.stripe_payment_intent_id, p.stripe_charge_id
      FROM payments p JOIN users u ON u.id = p.student_id
     WHERE p.paid_at >= :start AND p.paid_at < :end
     ORDER BY p.paid_at, p.id
    """
)
LEDGER_COLUMNS = (
    "seq", "entry_id", "created_at", "student_id", "email", "type", "amount", "balance_after",
    "source_type", "source_id", "description", "actor_id", "lots", "value_minor",
)  # fmt: skip
# The credit lots of an entry (models.lots): a credit's lot ids, a debit's "lot:credits" in
# the order it took them; and the value in minor units that the lots gained or gave.
_LEDGER = text(
    """
    SELECT t.seq, t.id, t.created_at, t.student_id, u.email, t.entry_type, t.amount,
           t.balance_after, t.source_type, t.source_id, t.description, t.actor_id,
           CASE WHEN t.entry_type = 'CREDIT'
                THEN (SELECT string_agg(l.id::text, ' ' ORDER BY l.seq) FROM credit_lots l
                       WHERE l.entry_id = t.id)
                ELSE (SELECT string_agg(m.lot_id::text || ':' || m.credits, ' ' ORDER BY m.id)
                        FROM lot_movements m WHERE m.entry_id = t.id) END AS lots,
           CASE WHEN t.entry_type = 'CREDIT'
                THEN (SELECT SUM(l.value_minor) FROM credit_lots l WHERE l.entry_id = t.id)
                ELSE (SELECT SUM(m.value_minor) FROM lot_movements m
                       WHERE m.entry_id = t.id) END AS value_minor
      FROM credit_transactions t JOIN users u ON u.id = t.student_id
     WHERE t.created_at >= :start AND t.created_at < :end
     ORDER BY t.seq
    """
)


# The VAT documents behind the VAT report (documents.report), signed as they count on the
# return: receipts and debit notes add, credit notes subtract. The columns' sums over a range
# are the report's vatDueMinor and netSalesMinor for it.
DOCUMENT_COLUMNS = (
    "number", "type", "form", "issued_at", "supplied_at", "payment_id", "buyer_name",
    "buyer_email", "buyer_vat_number", "description", "vat_rate_percent", "total_pence",
    "vat_pence", "net_pence", "total_gbp", "vat_gbp", "net_gbp", "currency",
)  # fmt: skip
_DOCUMENTS = text(
    """
    SELECT d.number, d.type, d.form, d.issued_at, d.supplied_at, d.payment_id, d.buyer_name,
           d.buyer_email, d.buyer_vat_number, d.description, d.vat_rate_percent,
           s.sign * d.total_minor AS total, s.sign * d.vat_minor AS vat,
           s.sign * d.net_minor AS net, d.currency
      FROM documents d,
           LATERAL (SELECT CASE d.type WHEN 'CREDIT_NOTE' THEN -1 ELSE 1 END AS sign) s
     WHERE d.issued_at >= :start AND d.issued_at < :end
     ORDER BY d.issued_at, d.series, d.sequence
    """
)


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def _line(values: Sequence[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([_cell(v) for v in values])
    return buffer.getvalue()


def _payment_values(row: Any) -> list[Any]:
    values = list(row)
    # amount_gbp after amount_pence, for people reading the file.
    return [*values[:8], pounds_value(row.amount_pence), *values[8:]]


async def _stream(
    db: Db, statement: Any, params: dict[str, Any], header: Sequence[str], shape: Any
) -> AsyncIterator[str]:
    yield _line(header)
    async for batch in db.stream(statement, params, batch=BATCH):
        yield "".join(_line(shape(row)) for row in batch)


def payments_csv(db: Db, start: datetime, end: datetime) -> AsyncIterator[str]:
    params = {"start": start, "end": end}
    return _stream(db, _PAYMENTS, params, PAYMENT_COLUMNS, _payment_values)


def ledger_csv(db: Db, start: datetime, end: datetime) -> AsyncIterator[str]:
    return _stream(db, _LEDGER, {"start": start, "end": end}, LEDGER_COLUMNS, list)


def _document_values(row: Any) -> list[Any]:
    values = list(row)
    pounds = [pounds_value(int(row.total)), pounds_value(int(row.vat)), pounds_value(int(row.net))]
    return [*values[:14], *pounds, values[14]]


def vat_documents_csv(db: Db, start: datetime, end: datetime) -> AsyncIterator[str]:
    params = {"start": start, "end": end}
    return _stream(db, _DOCUMENTS, params, DOCUMENT_COLUMNS, _document_values)
