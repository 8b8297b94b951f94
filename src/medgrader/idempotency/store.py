"""The idempotency-key store: the statements of the idempotent runner (idempotency.runner).

A `KeyedRequest` names the operation, the key's owner (the student who spends, the student an
admin adjusts, the admin who refunds), the key and the request's hash. Keys are scoped by
(owner, operation): a student's own spend key and an admin's adjustment key for that student
are different keys even when the strings are equal (the primary key is
(student_id, operation, key), migration 0006; `student_id` is any user's id). In the caller's
transaction:

1. `claim()` inserts the key row (`ON CONFLICT DO NOTHING`). If another transaction holds an
   uncommitted row for the same (owner, operation, key), PostgreSQL makes this insert wait
   until that transaction ends, so of two concurrent requests exactly one proceeds; the other
   then reads the committed outcome. It returns None when this transaction owns the key, else
   the `Prior` outcome.
2. `record()` stores the answer on the key row (the first answer wins): the HTTP status it was
   given and its body (a refusal's `{"error", "code", ...}`, or the success's value). An
   operation whose ledger entry carries `request.ledger_key` may leave its success unstored:
   the entry is the answer, and carries the request hash for after the key row's retention.
3. An operation that spans an external call stores its resolved request first (`save_plan`,
   in `response_body` while `response_status` is still NULL), so that a retry after a crash
   re-sends exactly that request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB

from medgrader.db.session import Db, no_rows
from medgrader.idempotency.keys import ledger_key, request_hash
from medgrader.ledger import service as ledger
from medgrader.ledger.rules import signed_amount
from medgrader.ledger.service import LedgerEntry
from medgrader.models.ledger import EntryType, SourceType

RETENTION = timedelta(hours=48)

# The row is inserted only for an existing user and only while no ledger entry carries the
# same ledger key (a key whose row retention already deleted must not charge twice; an
# operation without a ledger key passes NULL, which no entry carries).
CLAIM = text(
    """
    INSERT INTO idempotency_keys (student_id, key, operation, request_hash)
    SELECT u.id, :key, :operation, :request_hash
      FROM users u
     WHERE u.id = :owner_id
       AND NOT EXISTS (SELECT 1 FROM credit_transactions WHERE idempotency_key = :ledger_key)
    ON CONFLICT (student_id, operation, key) DO NOTHING
    RETURNING 1
    """
)

_PRIOR = text(
    f"""
    SELECT k.operation, k.request_hash, k.response_status, k.response_body,
           t.id, t.seq, t.entry_type, t.amount, t.balance_after, t.source_type, t.created_at,
           {signed_amount("t.entry_type", "t.amount")} AS delta,
           t.metadata ->> 'requestHash' AS entry_request_hash
      FROM (SELECT 1) AS one
      LEFT JOIN idempotency_keys k
             ON k.student_id = :owner_id AND k.operation = :operation AND k.key = :key
      LEFT JOIN credit_transactions t ON t.idempotency_key = :ledger_key
    """  # noqa: S608 - only the constant signed-amount rule is interpolated
)

RECORD = no_rows(
    text(
        """
    UPDATE idempotency_keys SET response_status = :status, response_body = :body
     WHERE student_id = :owner_id AND operation = :operation AND key = :key
       AND response_status IS NULL
    """
    ).bindparams(bindparam("body", type_=JSONB))
)
_SAVE_PLAN = no_rows(
    text(
        """
    UPDATE idempotency_keys SET response_body = :plan
     WHERE student_id = :owner_id AND operation = :operation AND key = :key
       AND response_status IS NULL
    """
    ).bindparams(bindparam("plan", type_=JSONB))
)
# A claim whose operation failed without an answer: the key is free again, even if the edge
# commits the rest of its transaction (a page that renders the error).
_RELEASE = no_rows(
    text(
        """
    DELETE FROM idempotency_keys
     WHERE student_id = :owner_id AND operation = :operation AND key = :key
       AND response_status IS NULL
    """
    )
)
_ANSWER = text(
    """
    SELECT response_status, response_body FROM idempotency_keys
     WHERE student_id = :owner_id AND operation = :operation AND key = :key
    """
)

_PURGE = text("DELETE FROM idempotency_keys WHERE created_at < now() - :age")


@dataclass(frozen=True)
class KeyedRequest:
    """One operation asked for under an Idempotency-Key, scoped to its owner."""

    operation: str  # e.g. "credits.spend"; each operation has its own key space per owner
    # Short prefix of the ledger entry's own idempotency key; None for an operation whose
    # answer is not a ledger entry (an admin refund).
    ledger_tag: str | None
    owner_id: uuid.UUID
    key: str
    request_hash: str

    @classmethod
    def of(
        cls,
        *,
        operation: str,
        owner_id: uuid.UUID,
        key: str,
        payload: dict[str, Any],
        ledger_tag: str | None = None,
    ) -> KeyedRequest:
        """`key` must already be valid (keys.validate_key); `payload` is the validated request."""
        return cls(operation, ledger_tag, owner_id, key, request_hash(payload))

    @property
    def ledger_key(self) -> str | None:
        if self.ledger_tag is None:
            return None
        return ledger_key(self.ledger_tag, self.owner_id, self.key)

    @property
    def entry_metadata(self) -> dict[str, str]:
        """Metadata for the ledger entry: the hash lets a replay be judged after retention."""
        return {"idempotencyKey": self.key, "requestHash": self.request_hash}

    def params(self) -> dict[str, Any]:
        return {"owner_id": self.owner_id, "operation": self.operation, "key": self.key}


@dataclass(frozen=True)
class Prior:
    """What the first request under a key left behind (committed)."""

    same_request: bool
    # The ledger entry that carries the request's ledger key, if any.
    entry: LedgerEntry | None
    # The stored answer: its HTTP status and body; None while the first request runs.
    response_status: int | None
    response_body: dict[str, Any] | None
    # The resolved request of an operation that spans an external call (see save_plan).
    plan: dict[str, Any] | None = None


async def claim(db: Db, request: KeyedRequest) -> Prior | None:
    """None: this transaction now owns the key and must do the operation. Otherwise the prior
    outcome. Raises StudentNotFound when the owner does not exist."""
    params = request.params() | {
        "request_hash": request.request_hash,
        "ledger_key": request.ledger_key,
    }
    # Twice at most: the second pass covers a key row deleted by retention between the two
    # statements (then the insert succeeds) and tells a missing owner apart.
    for _ in range(2):
        if (await db.execute(CLAIM, params)).first() is not None:
            return None
        prior = await _prior(db, params, request)
        if prior is not None:
            return prior
        await ledger.ensure_student_exists(db, request.owner_id)
    raise RuntimeError("idempotency key neither claimable nor found")  # pragma: no cover


async def _prior(db: Db, params: dict[str, Any], request: KeyedRequest) -> Prior | None:
    row = (await db.execute(_PRIOR, params)).one()
    entry = None
    if row.id is not None:
        entry = LedgerEntry(
            id=row.id,
            seq=row.seq,
            student_id=params["owner_id"],
            entry_type=EntryType(row.entry_type),
            amount=int(row.amount),
            balance_after=int(row.balance_after),
            source_type=SourceType(row.source_type),
            created_at=row.created_at,
            delta=int(row.delta),
        )
    if row.operation is not None:  # the key row (of this operation: the join says so)
        same = row.request_hash == request.request_hash
    elif entry is not None:
        # The key row is gone (retention) but the entry remains: it carries the hash.
        same = row.entry_request_hash == request.request_hash
    else:
        return None
    answered = row.response_status is not None
    return Prior(
        same_request=same,
        entry=entry,
        response_status=row.response_status,
        response_body=row.response_body if answered else None,
        plan=None if answered else row.response_body,
    )


async def record(db: Db, request: KeyedRequest, *, status: int, body: dict[str, Any]) -> None:
    """Store the answer on the claimed key row, unless one is stored already."""
    await db.execute(RECORD, request.params() | {"status": status, "body": body})


async def save_plan(db: Db, request: KeyedRequest, plan: dict[str, Any]) -> None:
    """Store the resolved request of an operation that spans an external call."""
    await db.execute(_SAVE_PLAN, request.params() | {"plan": plan})


async def release(db: Db, request: KeyedRequest) -> None:
    """Give back a key this transaction claimed and will not answer."""
    await db.execute(_RELEASE, request.params())


async def answer(db: Db, request: KeyedRequest) -> tuple[int, dict[str, Any]] | None:
    """The answer stored under the key (status, body), if any."""
    row = (await db.execute(_ANSWER, request.params())).one_or_none()
    if row is None or row.response_status is None:
        return None
    return int(row.response_status), dict(row.response_body)


async def purge_expired(db: Db, *, older_than: timedelta = RETENTION) -> int:
    """Delete key rows older than `older_than` (48 hours: keys are promised for 24)."""
    return (await db.execute(_PURGE, {"age": older_than})).rowcount
