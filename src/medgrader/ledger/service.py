"""Posting ledger entries. The ONLY place `student_profiles.credit_balance` is written.

Each posting is one SQL statement: a data-modifying CTE that moves the balance with an atomic
`UPDATE ... SET credit_balance = credit_balance + <the signed amount> ... RETURNING` (the rule:
ledger.rules) and inserts the entry
carrying the balance the UPDATE returned. The UPDATE takes the row lock, so concurrent
postings for one student serialize in PostgreSQL, and the balance and its entry commit or roll
back together with the caller's transaction. Nothing is read into Python and written back.
Callers own the transaction; nothing here commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB

from medgrader.core.errors import NotFound
from medgrader.db.session import Db, no_rows
from medgrader.ledger.rules import available, signed_amount
from medgrader.ledger.threshold import after_debit
from medgrader.models.ledger import CLAWBACK_SOURCES, EntryType, SourceType


@dataclass(frozen=True)
class LedgerEntry:
    id: uuid.UUID
    seq: int
    student_id: uuid.UUID
    entry_type: EntryType
    amount: int
    balance_after: int
    source_type: SourceType
    created_at: datetime
    # How the entry moved the balance (ledger.rules.signed_amount, read back from SQL).
    delta: int


class StudentNotFound(NotFound):
    code, message = "student_not_found", "No such student."


def _posting_sql(*, require_cover: bool) -> Any:
    # require_cover: the debit happens only if the AVAILABLE balance (the balance minus the
    # student's active, unexpired holds) covers it; otherwise no row is updated, nothing is
    # inserted, and the caller learns it from the empty result. The held sum reads the holds
    # table with this statement's snapshot, so a covered debit must follow lock_balance().
    guard = f"AND {available('credit_balance', ':student_id')} >= :amount" if require_cover else ""
    return text(
        f"""
        WITH moved AS (
            UPDATE student_profiles
               SET credit_balance = credit_balance + {signed_amount(":entry_type", ":amount")},
                   updated_at = now()
             WHERE user_id = :student_id {guard}
         RETURNING user_id, credit_balance
        )
        INSERT INTO credit_transactions (
            student_id, entry_type, amount, balance_after, source_type, source_id,
            description, metadata, idempotency_key, actor_id
        )
        SELECT user_id, :entry_type, :amount, credit_balance, :source_type, :source_id,
               :description, :metadata, :idempotency_key, :actor_id
          FROM moved
        RETURNING id, seq, balance_after, created_at, {signed_amount()} AS delta
        """  # noqa: S608 - only constant rule expressions are interpolated, never user input
    ).bindparams(bindparam("metadata", type_=JSONB))


CREDIT_SQL = _posting_sql(require_cover=False)
COVERED_DEBIT_SQL = _posting_sql(require_cover=True)

# FOR NO KEY UPDATE: the lock an UPDATE of the row takes (foreign-key checks, which take KEY
# SHARE, do not wait for it). Its rows are never read: in pipeline mode it is queued and
# travels with the statement after it, so it costs no round trip of its own.
LOCK_BALANCE = no_rows(
    text("SELECT 1 FROM student_profiles WHERE user_id = :student_id FOR NO KEY UPDATE")
)


async def lock_balance(db: Db, student_id: uuid.UUID) -> None:
    """Lock the student's balance row until the transaction ends.

    Under READ COMMITTED every statement after this one sees all the holds and entries that
    were committed before the lock was granted (each statement takes a fresh snapshot), and no
    other spend, hold or posting for the student can commit in between: a check of the
    available balance made after it stays true until the commit. A no-op if already held.
    """
    await db.execute(LOCK_BALANCE, {"student_id": student_id})


async def _post(
    db: Db,
    *,
    student_id: uuid.UUID,
    entry_type: EntryType,
    amount: int,
    source_type: SourceType,
    source_id: str | None,
    description: str,
    metadata: dict[str, Any] | None,
    idempotency_key: str | None,
    actor_id: uuid.UUID | None,
    require_cover: bool,
) -> LedgerEntry | None:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValueError(f"ledger amounts are positive integers, got {amount!r}")
    statement = COVERED_DEBIT_SQL if require_cover else CREDIT_SQL
    row = (
        await db.execute(
            statement,
            {
                "student_id": student_id,
                "amount": amount,
                "entry_type": entry_type.value,
                "source_type": source_type.value,
                "source_id": source_id,
                "description": description[:500],
                "metadata": metadata or {},
                "idempotency_key": idempotency_key,
                "actor_id": actor_id,
            },
        )
    ).one_or_none()
    if row is None:
        return None
    return LedgerEntry(
        id=row.id,
        seq=row.seq,
        student_id=student_id,
        entry_type=entry_type,
        amount=amount,
        balance_after=row.balance_after,
        source_type=source_type,
        created_at=row.created_at,
        delta=int(row.delta),
    )


async def credit(
    db: Db,
    *,
    student_id: uuid.UUID,
    amount: int,
    source_type: SourceType,
    description: str,
    source_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    actor_id: uuid.UUID | None = None,
) -> LedgerEntry:
    """Add credits. Raises StudentNotFound when the student has no profile."""
    entry = await _post(
        db,
        student_id=student_id,
        entry_type=EntryType.CREDIT,
        amount=amount,
        source_type=source_type,
        source_id=source_id,
        description=description,
        metadata=metadata,
        idempotency_key=idempotency_key,
        actor_id=actor_id,
        require_cover=False,
    )
    if entry is None:
        raise StudentNotFound()
    return entry


async def debit(
    db: Db,
    *,
    student_id: uuid.UUID,
    amount: int,
    source_type: SourceType,
    description: str,
    source_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    actor_id: uuid.UUID | None = None,
) -> LedgerEntry | None:
    """Take credits only if the available balance (balance minus active holds) covers them;
    None when it does not (nothing written).

    A balance already below zero (after a clawback) never covers a debit.
    """
    if source_type in CLAWBACK_SOURCES:
        raise ValueError("clawbacks use clawback(), which may take a balance below zero")
    await lock_balance(db, student_id)  # the held sum in the guard must be current
    entry = await _post(
        db,
        student_id=student_id,
        entry_type=EntryType.DEBIT,
        amount=amount,
        source_type=source_type,
        source_id=source_id,
        description=description,
        metadata=metadata,
        idempotency_key=idempotency_key,
        actor_id=actor_id,
        require_cover=True,
    )
    if entry is None:
        await ensure_student_exists(db, student_id)
    else:
        await after_debit(db, student_id)  # automatic top-up: the one hook (ledger.threshold)
    return entry


async def clawback(
    db: Db,
    *,
    student_id: uuid.UUID,
    amount: int,
    source_type: SourceType,
    description: str,
    source_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    actor_id: uuid.UUID | None = None,
) -> LedgerEntry:
    """Take back credits for money returned (refund, lost dispute); may go below zero.

    `actor_id` is the administrator who refunded, when one did."""
    if source_type not in CLAWBACK_SOURCES:
        raise ValueError(f"{source_type} is not a clawback source")
    entry = await _post(
        db,
        student_id=student_id,
        entry_type=EntryType.DEBIT,
        amount=amount,
        source_type=source_type,
        source_id=source_id,
        description=description,
        metadata=metadata,
        idempotency_key=idempotency_key,
        actor_id=actor_id,
        require_cover=False,
    )
    if entry is None:
        raise StudentNotFound()
    await after_debit(db, student_id)  # automatic top-up: the one hook (ledger.threshold)
    return entry


async def ensure_student_exists(db: Db, student_id: uuid.UUID) -> None:
    found = await db.scalar(
        text("SELECT 1 FROM student_profiles WHERE user_id = :id"), {"id": student_id}
    )
    if found is None:
        raise StudentNotFound()


async def get_balance(db: Db, student_id: uuid.UUID) -> int:
    balance = await db.scalar(
        text("SELECT credit_balance FROM student_profiles WHERE user_id = :id"),
        {"id": student_id},
    )
    if balance is None:
        raise StudentNotFound()
    return int(balance)
