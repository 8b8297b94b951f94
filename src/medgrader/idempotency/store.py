"""The idempotency-key store: claim a key for one operation, or learn what its first use did.

A `KeyedRequest` names the operation, the student, the key and the request's hash. Keys are
scoped by (student, operation): a student's own spend key and an admin's adjustment key for
that student are different keys even when the strings are equal (the primary key is
(student_id, operation, key), migration 0006). How one operation under a key runs, all in the
caller's transaction:

1. `claim()` inserts the key row (`ON CONFLICT DO NOTHING`). If another transaction holds an
   uncommitted row for the same (student, operation, key), PostgreSQL makes this insert wait
   until that transaction ends, so of two concurrent requests exactly one proceeds; the other
   then reads the committed outcome.
2. The operation posts its ledger entry with `request.ledger_key` as the entry's UNIQUE
   idempotency key and `request.entry_metadata` (with the request hash) as its metadata.
   The entry IS the stored success: a replay is rebuilt from it, so the hot balance row is
   not held for an extra statement that copies the answer onto the key row.
3. An outcome that writes no entry (a refusal such as 402) is stored on the key row with
   `record()`, so the same key replays the same refusal.

`claim()` returns None when this transaction owns the key, else the `Prior` outcome.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from medgrader.db.lean import SqlSession, no_rows
from medgrader.idempotency.keys import ledger_key, request_hash
from medgrader.ledger import service as ledger
from medgrader.ledger.service import LedgerEntry
from medgrader.models.ledger import EntryType, SourceType

RETENTION = timedelta(hours=48)

# The row is inserted only for an existing student and only while no ledger entry carries the
# same ledger key (a key whose row retention already deleted must not charge twice).
CLAIM = text(
    """
    INSERT INTO idempotency_keys (student_id, key, operation, request_hash)
    SELECT p.user_id, :key, :operation, :request_hash
      FROM student_profiles p
     WHERE p.user_id = :student_id
       AND NOT EXISTS (SELECT 1 FROM credit_transactions WHERE idempotency_key = :ledger_key)
    ON CONFLICT (student_id, operation, key) DO NOTHING
    RETURNING 1
    """
)

_PRIOR = text(
    """
    SELECT k.operation, k.request_hash, k.response_status, k.response_body,
           t.id, t.seq, t.entry_type, t.amount, t.balance_after, t.source_type, t.created_at,
           t.metadata ->> 'requestHash' AS entry_request_hash
      FROM (SELECT 1) AS one
      LEFT JOIN idempotency_keys k
             ON k.student_id = :student_id AND k.operation = :operation AND k.key = :key
      LEFT JOIN credit_transactions t ON t.idempotency_key = :ledger_key
    """
)

RECORD = no_rows(
    text(
        """
    UPDATE idempotency_keys SET response_status = :status, response_body = :body
     WHERE student_id = :student_id AND operation = :operation AND key = :key
       AND response_status IS NULL
    """
    ).bindparams(bindparam("body", type_=JSONB))
)

# Operations whose effect lives outside the ledger (a refund made at Stripe) keep their whole
# answer on the key row. The owner is any user (an admin), not only a student.
_STORED = text(
    """
    SELECT request_hash, response_status, response_body FROM idempotency_keys
     WHERE student_id = :owner AND operation = :operation AND key = :key
    """
)
_SAVE = text(
    """
    INSERT INTO idempotency_keys (student_id, operation, key, request_hash, response_status,
                                  response_body)
    VALUES (:owner, :operation, :key, :request_hash, :status, :body)
    ON CONFLICT (student_id, operation, key) DO NOTHING
    """
).bindparams(bindparam("body", type_=JSONB))

_PURGE = text("DELETE FROM idempotency_keys WHERE created_at < now() - :age")


@dataclass(frozen=True)
class Prior:
    """What the first request under a key left behind (committed)."""

    same_request: bool
    entry: LedgerEntry | None
    response_status: int | None
    response_body: dict[str, Any] | None

    @property
    def verdict(self) -> PriorVerdict:
        """What the new request gets, in this order: a different request under the same key
        is refused; the same request replays the entry or the recorded refusal."""
        if not self.same_request:
            return PriorVerdict.KEY_REUSED
        if self.entry is not None:
            return PriorVerdict.SUCCEEDED
        if self.response_status is not None:
            return PriorVerdict.REFUSED
        return PriorVerdict.IN_PROGRESS


class PriorVerdict(StrEnum):
    KEY_REUSED = "idempotency_key_reused"  # 409
    SUCCEEDED = "succeeded"  # replay from `entry`
    REFUSED = "refused"  # replay `response_status` and `response_body`
    IN_PROGRESS = "request_in_progress"  # 409


# What every keyed operation answers for the two verdicts that are about the key itself.
KEY_MESSAGES = {
    PriorVerdict.KEY_REUSED: "This Idempotency-Key was already used for a different request.",
    PriorVerdict.IN_PROGRESS: "A request with this Idempotency-Key is still being processed.",
}


@dataclass(frozen=True)
class KeyedRequest:
    """One operation asked for under an Idempotency-Key, scoped to a student."""

    operation: str  # e.g. "credits.spend"; each operation has its own key space per student
    ledger_tag: str  # short prefix of the ledger entry's own idempotency key
    student_id: uuid.UUID
    key: str
    request_hash: str

    @classmethod
    def of(
        cls,
        *,
        operation: str,
        ledger_tag: str,
        student_id: uuid.UUID,
        key: str,
        payload: dict[str, Any],
    ) -> KeyedRequest:
        """`key` must already be valid (keys.validate_key); `payload` is the validated request."""
        return cls(operation, ledger_tag, student_id, key, request_hash(payload))

    @property
    def ledger_key(self) -> str:
        return ledger_key(self.ledger_tag, self.student_id, self.key)

    @property
    def entry_metadata(self) -> dict[str, str]:
        """Metadata for the ledger entry: the hash lets a replay be judged after retention."""
        return {"idempotencyKey": self.key, "requestHash": self.request_hash}


async def claim(session: SqlSession, request: KeyedRequest) -> Prior | None:
    """None: this transaction now owns the key and must do the operation. Otherwise the prior
    outcome. Raises StudentNotFound when there is no such student."""
    params = {
        "student_id": request.student_id,
        "key": request.key,
        "operation": request.operation,
        "request_hash": request.request_hash,
        "ledger_key": request.ledger_key,
    }
    # Twice at most: the second pass covers a key row deleted by retention between the two
    # statements (then the insert succeeds) and tells a missing student apart.
    for _ in range(2):
        if (await session.execute(CLAIM, params)).first() is not None:
            return None
        prior = await _prior(session, params, request)
        if prior is not None:
            return prior
        await ledger.ensure_student_exists(session, request.student_id)
    raise RuntimeError("idempotency key neither claimable nor found")  # pragma: no cover


async def _prior(
    session: SqlSession, params: dict[str, Any], request: KeyedRequest
) -> Prior | None:
    row = (await session.execute(_PRIOR, params)).one()
    entry = None
    if row.id is not None:
        entry = LedgerEntry(
            id=row.id,
            seq=row.seq,
            student_id=params["student_id"],
            entry_type=EntryType(row.entry_type),
            amount=int(row.amount),
            balance_after=int(row.balance_after),
            source_type=SourceType(row.source_type),
            created_at=row.created_at,
        )
    if row.operation is not None:  # the key row (of this operation: the join says so)
        same = row.request_hash == request.request_hash
    elif entry is not None:
        # The key row is gone (retention) but the entry remains: it carries the hash.
        same = row.entry_request_hash == request.request_hash
    else:
        return None
    return Prior(
        same_request=same,
        entry=entry,
        response_status=row.response_status,
        response_body=row.response_body,
    )


async def record(
    session: SqlSession, request: KeyedRequest, *, status: int, body: dict[str, Any]
) -> None:
    """Store an outcome that wrote no ledger entry (e.g. a 402) on the claimed key row."""
    await session.execute(
        RECORD,
        {
            "student_id": request.student_id,
            "operation": request.operation,
            "key": request.key,
            "status": status,
            "body": body,
        },
    )


@dataclass(frozen=True)
class StoredResponse:
    request_hash: str
    status: int
    body: dict[str, Any]


async def stored_response(
    session: SqlSession, *, owner_id: uuid.UUID, operation: str, key: str
) -> StoredResponse | None:
    """The answer recorded under the key, if any (for `save_response` operations)."""
    row = (
        await session.execute(_STORED, {"owner": owner_id, "operation": operation, "key": key})
    ).one_or_none()
    if row is None or row.response_status is None:
        return None
    return StoredResponse(row.request_hash, int(row.response_status), dict(row.response_body))


async def save_response(
    session: SqlSession,
    *,
    owner_id: uuid.UUID,
    operation: str,
    key: str,
    request_hash: str,
    status: int,
    body: dict[str, Any],
) -> StoredResponse:
    """Record the answer under the key, unless a concurrent request with the same key got
    there first: then ITS answer is returned, so both answer alike."""
    params = {"owner": owner_id, "operation": operation, "key": key}
    await session.execute(
        _SAVE, params | {"request_hash": request_hash, "status": status, "body": body}
    )
    stored = await stored_response(session, owner_id=owner_id, operation=operation, key=key)
    assert stored is not None  # inserted now, or by the request that won the race
    return stored


async def purge_expired(session: AsyncSession, *, older_than: timedelta = RETENTION) -> int:
    """Delete key rows older than `older_than` (48 hours: keys are promised for 24)."""
    result = await session.execute(_PURGE, {"age": older_than})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
