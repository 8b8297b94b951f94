"""Posting ledger entries. The ONLY place `student_profiles.credit_balance` and the credit
lots (models.lots) are written (a hold's reservations in lots too: sync_hold_lots, or the
sync_hold_sql expression the holds' create and extend statements carry).

Each posting is one SQL statement calling `ledger_post` (migration 0013's SQL function): it
moves the balance with an atomic `UPDATE ... SET credit_balance = credit_balance + <the
signed amount> ... RETURNING` (the rule: ledger.rules), inserts the entry carrying the
balance the UPDATE returned, and does the entry's lot work (a credit's lot; a debit's
movements in the one spend order). Before it, queued in the same round trip, lots_settle
locks the balance row and expires what the clock expired. The lock serializes concurrent
postings for one student in PostgreSQL, and the balance and its entry commit or roll
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
from medgrader.ledger.threshold import after_debit, after_student_expiry, top_up_on_sql
from medgrader.models.ledger import CLAWBACK_SOURCES, EntryType, SourceType
from medgrader.models.lots import DEFAULT_PRIORITY, LotKind, LotSource


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
    # The student has automatic top-up on (ledger.threshold.top_up_on_sql), read by the
    # posting under the balance row lock. True (send the trigger's statement, which checks
    # again) when not known: an entry read back for a replay.
    top_up_on: bool = True


class StudentNotFound(NotFound):
    code, message = "student_not_found", "No such student."


def _posting_sql(*, require_cover: bool) -> Any:
    # require_cover: the debit happens only if the AVAILABLE balance (the balance minus the
    # student's active, unexpired holds) covers it; otherwise nothing is written and the
    # caller learns it from the empty result. The check is evaluated by this statement after
    # lock_balance() (queued before it), so it stays true until the commit. ledger_post
    # (migration 0013) moves the balance, inserts the entry and does the entry's lot work
    # (a credit's lot, a debit's movements in the spend order) in this one round trip.
    allowed = (
        f"(SELECT {available('p.credit_balance', ':student_id')} >= :amount"  # noqa: S608
        " FROM student_profiles p WHERE p.user_id = :student_id)"
        if require_cover
        else "true"
    )
    return text(
        f"""
        SELECT e.id, e.seq, e.balance_after, e.created_at,
               {signed_amount("e.entry_type", "e.amount")} AS delta,
               {top_up_on_sql("CAST(:student_id AS uuid)")} AS top_up_on
          FROM ledger_post(
                 CAST(:student_id AS uuid), CAST(:entry_type AS text), CAST(:amount AS bigint),
                 {signed_amount("CAST(:entry_type AS text)", "CAST(:amount AS bigint)")},
                 {allowed}, CAST(:source_type AS text), CAST(:source_id AS text),
                 CAST(:description AS text), :metadata, CAST(:idempotency_key AS text),
                 CAST(:actor_id AS uuid), CAST(:lot_kind AS text), CAST(:lot_source AS text),
                 CAST(:expires_at AS timestamptz), CAST(:priority AS integer),
                 CAST(:value_minor AS bigint), CAST(:currency AS text), CAST(:hold_id AS uuid)
               ) e
         WHERE e.id IS NOT NULL
        """  # noqa: S608 - only constant rule expressions are interpolated, never user input
    ).bindparams(bindparam("metadata", type_=JSONB))


CREDIT_SQL = _posting_sql(require_cover=False)
COVERED_DEBIT_SQL = _posting_sql(require_cover=True)

# lots_settle (migration 0013) takes the lock an UPDATE of the row takes (FOR NO KEY UPDATE:
# foreign-key checks, which take KEY SHARE, do not wait for it), then writes down what the
# clock decided: holds past their expiry give their credits back to their lots, lots past
# theirs expire (one EXPIRY entry each). Its rows are never read: in pipeline mode it is
# queued and travels with the statement after it, so it costs no round trip of its own.
LOCK_BALANCE = no_rows(text("SELECT lots_settle(:student_id)"))


async def lock_balance(db: Db, student_id: uuid.UUID) -> None:
    """Lock the student's balance row until the transaction ends, and settle what expired.

    Under READ COMMITTED every statement after this one sees all the holds and entries that
    were committed before the lock was granted (each statement takes a fresh snapshot), and no
    other spend, hold or posting for the student can commit in between: a check of the
    available balance made after it stays true until the commit. Lots past their expiresAt
    have expired (EXPIRY entries) by then, so no later statement can use their credits.
    """
    await db.execute(LOCK_BALANCE, {"student_id": student_id})


@dataclass(frozen=True)
class LotTerms:
    """What a credit's lot is: kind, source, expiry, priority and (a paid lot) its value."""

    kind: LotKind | None = None
    source: str | None = None
    expires_at: datetime | None = None
    priority: int = DEFAULT_PRIORITY
    value_minor: int | None = None
    currency: str | None = None

    def params(self, source_type: SourceType) -> dict[str, Any]:
        kind = self.kind or (LotKind.PAID if self.value_minor is not None else LotKind.GRANTED)
        source = self.source or DEFAULT_LOT_SOURCES.get(source_type, source_type.value)
        if not 0 <= self.priority <= 100:
            raise ValueError(f"lot priority is 0-100, got {self.priority}")
        if kind is LotKind.PAID and (self.value_minor is None or self.currency is None):
            raise ValueError("a paid lot needs its value and currency")
        return {
            "lot_kind": kind.value,
            "lot_source": source,
            "expires_at": self.expires_at,
            "priority": self.priority,
            "value_minor": self.value_minor if kind is LotKind.PAID else None,
            "currency": self.currency if kind is LotKind.PAID else None,
        }


# The lot source of a credit when the caller names none.
DEFAULT_LOT_SOURCES = {
    SourceType.PURCHASE: LotSource.PURCHASE.value,
    SourceType.WELCOME_BONUS: LotSource.WELCOME_BONUS.value,
    SourceType.ADMIN_ADJUSTMENT: LotSource.ADMIN_GRANT.value,
}
NO_LOT = LotTerms()


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
    lot: LotTerms = NO_LOT,
    hold_id: uuid.UUID | None = None,
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
                "hold_id": hold_id,
                **lot.params(source_type),
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
        top_up_on=row.top_up_on,
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
    kind: LotKind | None = None,
    source: str | None = None,
    expires_at: datetime | None = None,
    value_minor: int | None = None,
    currency: str | None = None,
    priority: int = DEFAULT_PRIORITY,
) -> LedgerEntry:
    """Add credits as a new lot (models.lots): `kind` PAID when a value is given (then
    `currency` too), else GRANTED; `source` defaults from the source type (PURCHASE,
    WELCOME_BONUS, ADMIN_GRANT); `expires_at` None never expires. Credits given back for a
    payment (REFUND/DISPUTE) return as the lots they replace. New credits pay a debt first.
    Raises StudentNotFound when the student has no profile."""
    lot = LotTerms(kind, source, expires_at, priority, value_minor, currency)
    await lock_balance(db, student_id)
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
        lot=lot,
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
    hold_id: uuid.UUID | None = None,
) -> LedgerEntry | None:
    """Take credits only if the available balance (balance minus active holds) covers them;
    None when it does not (nothing written).

    A balance already below zero (after a clawback) never covers a debit. The credits come
    out of the student's lots in the spend order, or, for a capture (`hold_id`), out of what
    the hold reserved (the rest of it goes back to its lots).
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
        hold_id=hold_id,
    )
    if entry is None:
        await ensure_student_exists(db, student_id)
    else:  # automatic top-up: the one hook (ledger.threshold)
        await after_debit(db, student_id, top_up_on=entry.top_up_on)
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

    `actor_id` is the administrator who refunded, when one did. The credits come from the
    purchase's own lot first (source_id is the payment), then the student's other lots in the
    spend order, then as a debt the next credits pay."""
    if source_type not in CLAWBACK_SOURCES:
        raise ValueError(f"{source_type} is not a clawback source")
    await lock_balance(db, student_id)
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
    # automatic top-up: the one hook (ledger.threshold)
    await after_debit(db, student_id, top_up_on=entry.top_up_on)
    return entry


# A reader's settle: lots_settle only when the clock has decided something for the student
# (lots_due, migration 0021: a lot past its expiry not yet written down, an ACTIVE hold past its
# own), so a plain read takes no lock. Without FROM, the WHERE is a one-time filter evaluated
# before lots_settle is called.
SETTLE_IF_DUE = no_rows(text("SELECT lots_settle(:student_id) WHERE lots_due(:student_id)"))


async def settle_if_due(db: Db, student_id: uuid.UUID) -> None:
    """Write down what the clock decided for the student before reading their figures: holds
    past their expiry give their credits back, lots past theirs expire (lots_settle, the
    posting's first step and the job's). Then the balance is the ledger sum, with the EXPIRY
    entries in the history, and every figure read in the same transaction (one `now()`) agrees
    with it. Takes the balance row lock only when something is due. Queued (no round trip)."""
    await db.execute(SETTLE_IF_DUE, {"student_id": student_id})
    # Lots it expired lower the available balance: the top-up trigger's business (issue 20).
    await after_student_expiry(db, student_id)


def sync_hold_sql(hold_id: str) -> str:
    """lots_sync_hold (migration 0020) as an SQL expression of the hold named by `hold_id`
    (an SQL expression): what sync_hold_lots runs, for a hold's own statement to carry.

    A hold's creation and extension call it on the row they return, so the reservation costs
    no statement of its own: the function is VOLATILE, and a command started inside a
    statement sees what that statement changed before it (PostgreSQL's rule for SPI), so it
    reads the hold as just inserted or extended."""
    return f"lots_sync_hold({hold_id})"


SYNC_HOLD = no_rows(text(f"SELECT {sync_hold_sql(':hold_id')}"))


async def sync_hold_lots(db: Db, hold_id: uuid.UUID) -> None:
    """Bring the hold's reservations in its lots in line with the hold (after lock_balance):
    a live hold reserves its amount in the spend order, an ended one gives its credits back
    (what comes back to an expired lot expires, with its own EXPIRY entry). Queued: it
    travels with the next statement or the commit, and its error fails the commit."""
    await db.execute(SYNC_HOLD, {"hold_id": hold_id})


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
