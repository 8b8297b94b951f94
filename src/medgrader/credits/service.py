"""Spending credits, for HTTP and for in-process callers (voice billing), with one guarantee.

`spend_credits` is the operation; the endpoint only translates its outcome to HTTP.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from medgrader.core import metrics
from medgrader.core.cursor import decode_seq_cursor, encode_seq_cursor
from medgrader.core.errors import Unprocessable
from medgrader.core.schemas import NUL_MESSAGE, names_pattern
from medgrader.credits import repository
from medgrader.credits.schemas import (
    MAX_REASON,
    MAX_SPEND,
    BalanceResponse,
    TransactionOut,
    TransactionPage,
)
from medgrader.db.lean import SqlSession
from medgrader.idempotency import store
from medgrader.idempotency.keys import validate_key
from medgrader.idempotency.store import PriorVerdict
from medgrader.ledger import service as ledger
from medgrader.models.holds import held_sql
from medgrader.models.ledger import EntryType, SourceType

SPEND_OPERATION = "credits.spend"
SPEND_LEDGER_TAG = "spend"
INSUFFICIENT_MESSAGE = "Not enough credits for this."


class SpendStatus(StrEnum):
    SPENT = "spent"  # 201: the entry exists (now, or from the first request under this key)
    INSUFFICIENT = "insufficient_credits"  # 402: nothing debited
    KEY_REUSED = "idempotency_key_reused"  # 409: the key was used for a different request
    IN_PROGRESS = "request_in_progress"  # 409: the first request has no outcome yet


_HTTP_STATUS = {
    SpendStatus.SPENT: 201,
    SpendStatus.INSUFFICIENT: 402,
    SpendStatus.KEY_REUSED: 409,
    SpendStatus.IN_PROGRESS: 409,
}
_MESSAGES = {
    SpendStatus.INSUFFICIENT: INSUFFICIENT_MESSAGE,
    SpendStatus.KEY_REUSED: store.KEY_MESSAGES[PriorVerdict.KEY_REUSED],
    SpendStatus.IN_PROGRESS: store.KEY_MESSAGES[PriorVerdict.IN_PROGRESS],
}


@dataclass(frozen=True)
class SpendOutcome:
    status: SpendStatus
    # True when this call did nothing and reports what the first call under the key did.
    replayed: bool = False
    transaction_id: uuid.UUID | None = None
    balance_after: int | None = None
    # A refusal replayed from the key row answers exactly the body stored the first time.
    recorded_body: dict[str, Any] | None = None

    @property
    def spent(self) -> bool:
        return self.status is SpendStatus.SPENT

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS[self.status]

    def body(self) -> dict[str, Any]:
        """The JSON body the API answers (identical on every replay)."""
        if self.recorded_body is not None:
            return self.recorded_body
        if self.status is SpendStatus.SPENT:
            return {"transactionId": str(self.transaction_id), "balanceAfter": self.balance_after}
        return {"error": _MESSAGES[self.status], "code": self.status.value}


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
    session: SqlSession,
    *,
    student_id: uuid.UUID,
    amount: int,
    reason: str,
    idempotency_key: str,
) -> SpendOutcome:
    """Debit `amount` credits from a student as one USAGE entry, at most once per key.

    Guarantees (the same for the HTTP endpoint, which calls this):
    - the balance never goes below zero, nor below what active holds reserve: an available
      balance (balance minus active, unexpired holds) that does not cover `amount` (or is
      negative after a clawback) gives INSUFFICIENT and no entry;
    - `idempotency_key` is scoped to the student and to spending (an admin adjustment under
      the same string is another key): the same key with the same amount and reason returns
      the first outcome (`replayed=True`) and writes nothing; with a different request it
      gives KEY_REUSED; two concurrent calls with one key execute once (the database makes
      the second wait for the first's transaction);
    - invalid input raises Unprocessable (amount, reason) or BadRequest (key) before anything
      is written; an unknown student raises StudentNotFound.

    The caller owns the transaction and must COMMIT WHATEVER THE OUTCOME: an INSUFFICIENT
    outcome writes the key row with the refusal, so that a retry with the same key replays the
    402 (Stripe's rule). If the caller rolls back instead, no money moved and the key is simply
    unused, so a later retry is evaluated afresh: safe, just not a replay. Keep the
    transaction short; the balance row stays locked from the debit until it ends.
    """
    key = validate_key(idempotency_key)
    amount = _validated_amount(amount)
    reason = validated_reason(reason)
    request = store.KeyedRequest.of(
        operation=SPEND_OPERATION,
        ledger_tag=SPEND_LEDGER_TAG,
        student_id=student_id,
        key=key,
        payload={"amount": amount, "reason": reason},
    )
    prior = await store.claim(session, request)
    if prior is not None:
        return _counted(_replay(prior), amount)

    entry = await ledger.debit(
        session,
        student_id=student_id,
        amount=amount,
        source_type=SourceType.USAGE,
        description=reason,
        metadata=request.entry_metadata,
        idempotency_key=request.ledger_key,
    )
    if entry is None:
        refused = SpendOutcome(SpendStatus.INSUFFICIENT)
        await store.record(session, request, status=402, body=refused.body())
        return _counted(refused, amount)
    # Nothing more happens under the balance row lock: the entry is the stored answer.
    return _counted(
        SpendOutcome(SpendStatus.SPENT, transaction_id=entry.id, balance_after=entry.balance_after),
        amount,
    )


def _counted(outcome: SpendOutcome, amount: int) -> SpendOutcome:
    """Count the outcome (a replay as "replayed": it moved nothing) and the credits spent."""
    metrics.SPENDS.labels(outcome="replayed" if outcome.replayed else outcome.status.value).inc()
    if outcome.spent and not outcome.replayed:
        metrics.SPENT_CREDITS.inc(amount)
    return outcome


def _replay(prior: store.Prior) -> SpendOutcome:
    verdict = prior.verdict
    if verdict is PriorVerdict.SUCCEEDED:
        assert prior.entry is not None
        return SpendOutcome(
            SpendStatus.SPENT,
            replayed=True,
            transaction_id=prior.entry.id,
            balance_after=prior.entry.balance_after,
        )
    if verdict is PriorVerdict.REFUSED:
        return SpendOutcome(
            SpendStatus.INSUFFICIENT, replayed=True, recorded_body=prior.response_body
        )
    return SpendOutcome(SpendStatus(verdict.value))


async def get_balance(session: AsyncSession, student_id: uuid.UUID) -> int:
    return await ledger.get_balance(session, student_id)


# Holds (medgrader.holds) reserve credits without moving the balance: available = balance -
# held, where held is the student's ACTIVE, unexpired holds (one definition: models.holds).
_BALANCES = text(
    f"""
    SELECT p.credit_balance AS balance, {held_sql(":student_id")} AS held
      FROM student_profiles p WHERE p.user_id = :student_id
    """  # noqa: S608 - held_sql is a constant fragment
)


async def get_balances(session: SqlSession, student_id: uuid.UUID) -> BalanceResponse:
    """{balance, held, available}; available may be below zero only after a clawback."""
    row = (await session.execute(_BALANCES, {"student_id": student_id})).first()
    if row is None:
        raise ledger.StudentNotFound()
    balance, held = int(row.balance), int(row.held)
    return BalanceResponse(balance=balance, held=held, available=balance - held)


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
    session: AsyncSession,
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
        session,
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
