"""Spending credits, for HTTP and for in-process callers (voice billing), with one guarantee.

`spend_credits` is the operation: it returns what was spent or raises a refusal; the endpoint
only turns that into HTTP.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from medgrader.core import metrics
from medgrader.core.cursor import decode_seq_cursor, encode_seq_cursor
from medgrader.core.errors import AppError, Unprocessable
from medgrader.core.schemas import NUL_MESSAGE, names_pattern
from medgrader.credits import repository
from medgrader.credits.errors import InsufficientCredits
from medgrader.credits.schemas import (
    MAX_REASON,
    MAX_SPEND,
    BalanceResponse,
    TransactionOut,
    TransactionPage,
)
from medgrader.db.session import Db
from medgrader.idempotency.keys import validate_key
from medgrader.idempotency.runner import Answer, run_once
from medgrader.idempotency.store import KeyedRequest
from medgrader.ledger import service as ledger
from medgrader.ledger.rules import available
from medgrader.ledger.service import LedgerEntry
from medgrader.lots import service as lots
from medgrader.models.holds import held_sql
from medgrader.models.ledger import EntryType, SourceType

SPEND_OPERATION = "credits.spend"
SPEND_LEDGER_TAG = "spend"


@dataclass(frozen=True)
class Spent:
    """A spend's answer: its USAGE entry and the balance after it."""

    transaction_id: uuid.UUID
    balance_after: int
    # True when this call did nothing and reports what the first call under the key did.
    replayed: bool = False

    def body(self) -> dict[str, Any]:
        """The JSON body the API answers (identical on every replay)."""
        return {"transactionId": str(self.transaction_id), "balanceAfter": self.balance_after}


async def _spent_from_entry(_: Db, entry: LedgerEntry) -> Spent:
    return Spent(entry.id, entry.balance_after)


# The spend's success is its ledger entry: nothing more happens under the balance row lock.
SPENT = Answer[Spent](from_entry=_spent_from_entry)


def _validated_amount(amount: object) -> int:
    # The same rule as SpendRequest, for callers that do not come through HTTP.
    if type(amount) is not int or not 1 <= amount <= MAX_SPEND:
        raise Unprocessable(f"amount: must be an integer from 1 to {MAX_SPEND}")
    return amount


def validated_reason(reason: object) -> str:
    """A reason as the API takes it (Reason in schemas): stripped, 1-200 characters, no NUL."""
    if not isinstance(reason, str) or not 1 <= len(reason.strip()) <= MAX_REASON:
        raise Unprocessable(f"reason: must be 1 to {MAX_REASON} characters")
    if "\x00" in reason:
        raise Unprocessable(f"reason: {NUL_MESSAGE}")
    return reason.strip()


async def spend_credits(
    db: Db,
    *,
    student_id: uuid.UUID,
    amount: int,
    reason: str,
    idempotency_key: str,
) -> Spent:
    """Debit `amount` credits from a student as one USAGE entry, at most once per key.

    Guarantees (the same for the HTTP endpoint, which calls this):
    - the balance never goes below zero, nor below what active holds reserve: an available
      balance (balance minus active, unexpired holds) that does not cover `amount` (or is
      negative after a clawback) raises InsufficientCredits and writes no entry;
    - `idempotency_key` is scoped to the student and to spending (an admin adjustment under
      the same string is another key): the same key with the same amount and reason gives the
      first answer again (`replayed`) and writes nothing, a refusal included; with a different
      request it raises IdempotencyKeyReused; two concurrent calls with one key execute once
      (the database makes the second wait for the first's transaction);
    - invalid input raises Unprocessable (amount, reason) or BadRequest (key) before anything
      is written; an unknown student raises StudentNotFound.

    Runs in the caller's unit of work (idempotency.runner): an InsufficientCredits refusal is
    stored on the key row and keeps the transaction, so the edge commits it and a retry with
    the same key replays it (Stripe's rule). If the caller rolls back instead, no money moved
    and the key is simply unused. Keep the transaction short; the balance row stays locked
    from the debit until it ends.
    """
    key = validate_key(idempotency_key)
    amount = _validated_amount(amount)
    reason = validated_reason(reason)
    request = KeyedRequest.of(
        operation=SPEND_OPERATION,
        ledger_tag=SPEND_LEDGER_TAG,
        owner_id=student_id,
        key=key,
        payload={"amount": amount, "reason": reason},
    )

    async def spend() -> Spent:
        entry = await ledger.debit(
            db,
            student_id=student_id,
            amount=amount,
            source_type=SourceType.USAGE,
            description=reason,
            metadata=request.entry_metadata,
            idempotency_key=request.ledger_key,
        )
        if entry is None:
            raise InsufficientCredits()
        return Spent(entry.id, entry.balance_after)

    try:
        done = await run_once(db, request, spend, SPENT)
    except AppError as refusal:
        _count(refusal.code if not refusal.replayed else "replayed")
        raise
    _count("replayed" if done.replayed else "spent", 0 if done.replayed else amount)
    return Spent(done.value.transaction_id, done.value.balance_after, replayed=done.replayed)


def _count(outcome: str, credits: int = 0) -> None:
    """Count the outcome (a replay as "replayed": it moved nothing) and the credits spent."""
    metrics.SPENDS.labels(outcome=outcome).inc()
    if credits:
        metrics.SPENT_CREDITS.inc(credits)


async def get_balance(db: Db, student_id: uuid.UUID) -> int:
    return await ledger.get_balance(db, student_id)


# Holds (medgrader.holds) reserve credits without moving the balance: held is what the
# student's active holds reserve (models.holds), available the balance less it (ledger.rules).
_BALANCES = text(
    f"""
    SELECT p.credit_balance AS balance, {held_sql(":student_id")} AS held,
           {available("p.credit_balance", ":student_id")} AS available
      FROM student_profiles p WHERE p.user_id = :student_id
    """  # noqa: S608 - only the constant rules are interpolated
)


async def get_balances(db: Db, student_id: uuid.UUID) -> BalanceResponse:
    """{balance, held, available, paid, granted, expiring}; available may be below zero only
    after a clawback. From a lot's expiresAt on its credits are gone from every figure,
    whether or not the job has run: when the clock has decided something for the student (a
    lot or a hold past its expiry), they are settled first (ledger.settle_if_due, what their
    next posting or the job would write), so balance is the ledger sum, its EXPIRY entries are
    in the history, and paid + granted = balance whenever balance >= 0 (lots.repository)."""
    await ledger.settle_if_due(db, student_id)
    row = (await db.execute(_BALANCES, {"student_id": student_id})).first()
    if row is None:
        raise ledger.StudentNotFound()
    kinds = await lots.by_kind(db, student_id)
    return BalanceResponse(
        balance=int(row.balance),
        held=int(row.held),
        available=int(row.available),
        paid=kinds.paid,
        granted=kinds.granted,
        expiring=kinds.expiring,
    )


ENTRY_TYPE_FILTERS = frozenset(EntryType)
SOURCE_TYPE_FILTERS = frozenset(SourceType)
TYPE_FILTERS = sorted({*ENTRY_TYPE_FILTERS, *SOURCE_TYPE_FILTERS})


# What `?type=` may be, enforced by the query parameter and published in the OpenAPI document,
# so that every value the document allows is answered (no pattern-valid value gets a 422).
TYPE_FILTER_PATTERN = names_pattern(TYPE_FILTERS, many=True)


def parse_type_filter(raw: str | None) -> tuple[list[str], list[str]]:
    """`?type=` is a comma-separated list of CREDIT/DEBIT and/or source types (USAGE, PURCHASE,
    WELCOME_BONUS, REFUND, DISPUTE, ADMIN_ADJUSTMENT). An entry matches when it has one of the
    listed entry types (if any are listed) and one of the listed source types (if any)."""
    if raw is None or not raw.strip():
        return [], []
    values = [part.strip().upper() for part in raw.split(",") if part.strip()]
    unknown = [v for v in values if v not in ENTRY_TYPE_FILTERS and v not in SOURCE_TYPE_FILTERS]
    if unknown:
        raise Unprocessable(f"type: unknown value {unknown[0]!r}; one of {', '.join(TYPE_FILTERS)}")
    entry_types = [v for v in values if v in ENTRY_TYPE_FILTERS]
    source_types = [v for v in values if v in SOURCE_TYPE_FILTERS]
    return entry_types, source_types


async def list_transactions(
    db: Db,
    student_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None = None,
    type_filter: str | None = None,
) -> TransactionPage:
    """One page of the student's own entries, newest first."""
    before_seq = decode_seq_cursor(cursor) if cursor else None
    entry_types, source_types = parse_type_filter(type_filter)
    rows = await repository.entries_page(
        db,
        student_id,
        before_seq=before_seq,
        limit=limit + 1,  # one more tells whether another page exists
        entry_types=entry_types,
        source_types=source_types,
    )
    page = rows[:limit]
    items = [
        TransactionOut(
            id=row.id,
            type=row.entry_type,
            amount=row.amount,
            balance_after=row.balance_after,
            source_type=row.source_type,
            source_id=row.source_id,
            description=row.description,
            created_at=row.created_at,
        )
        for row in page
    ]
    next_cursor = encode_seq_cursor(page[-1].seq) if len(rows) > limit else None
    return TransactionPage(items=items, next_cursor=next_cursor)
