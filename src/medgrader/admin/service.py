"""Admin credit adjustments: a signed correction posted as one ADMIN_ADJUSTMENT entry."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from medgrader.admin.errors import AdjustmentExceedsBalance
from medgrader.admin.schemas import MAX_ADJUSTMENT, AdjustmentOut
from medgrader.core.errors import Unprocessable
from medgrader.credits.service import validated_reason
from medgrader.db.session import Db
from medgrader.idempotency.keys import validate_key
from medgrader.idempotency.runner import Answer, run_once
from medgrader.idempotency.store import KeyedRequest
from medgrader.ledger import service as ledger
from medgrader.ledger.service import LedgerEntry
from medgrader.models.ledger import SourceType
from medgrader.models.lots import LotSource

ADJUST_OPERATION = "admin.credit_adjustment"
ADJUST_LEDGER_TAG = "adjust"


@dataclass(frozen=True)
class Adjusted:
    entry: LedgerEntry
    reason: str
    actor_id: uuid.UUID
    # True: this call did nothing and gives the first answer under its Idempotency-Key again.
    replayed: bool = False

    def out(self) -> AdjustmentOut:
        """The API's answer (a replay has the same request hash: the same reason and admin)."""
        entry = self.entry
        return AdjustmentOut(
            transaction_id=entry.id,
            student_id=entry.student_id,
            type=entry.entry_type.value,
            amount=entry.amount,
            balance_after=entry.balance_after,
            source_type=entry.source_type.value,
            description=self.reason,
            actor_id=self.actor_id,
            created_at=entry.created_at,
        )


async def adjust_credits(
    db: Db,
    *,
    student_id: uuid.UUID,
    amount: int,
    reason: str,
    actor_id: uuid.UUID,
    idempotency_key: str | None = None,
    expires_at: datetime | None = None,
) -> Adjusted:
    """Add (amount > 0) or remove (amount < 0) credits, recording the admin as the actor.

    A negative adjustment must be covered by the available balance (the balance minus active
    holds; never below zero: only refund and dispute clawbacks may do that); otherwise
    AdjustmentExceedsBalance and nothing posted.
    With an idempotency key (scoped to the target student and to adjustments: the student's own
    spend keys never collide with it) a retry gives the first answer again, refusals included,
    through the idempotent runner, exactly like a spend. Without a key every call posts a new
    entry, so a retried call credits or debits again. Raises StudentNotFound.
    A positive adjustment is a GRANTED lot (source ADMIN_GRANT) expiring at `expires_at`
    (aware, in the future; None: never); a negative one takes credits in the spend order.
    """
    if type(amount) is not int or amount == 0 or abs(amount) > MAX_ADJUSTMENT:
        raise Unprocessable(
            f"amount: must be a non-zero integer from -{MAX_ADJUSTMENT} to {MAX_ADJUSTMENT}"
        )
    reason = validated_reason(reason)
    _validate_expiry(amount, expires_at)
    if idempotency_key is None:
        entry = await _post(db, student_id, amount, reason, actor_id, None, expires_at)
        return Adjusted(entry, reason, actor_id)
    payload: dict[str, Any] = {"amount": amount, "reason": reason, "actor": str(actor_id)}
    if expires_at is not None:  # (absent, the hash of a key stored before expiries stays)
        payload["expiresAt"] = expires_at.isoformat()
    request = KeyedRequest.of(
        operation=ADJUST_OPERATION,
        ledger_tag=ADJUST_LEDGER_TAG,
        owner_id=student_id,
        key=validate_key(idempotency_key),
        payload=payload,
    )
    done = await run_once(
        db,
        request,
        lambda: _post(db, student_id, amount, reason, actor_id, request, expires_at),
        POSTED,
    )
    return Adjusted(done.value, reason, actor_id, replayed=done.replayed)


def _validate_expiry(amount: int, expires_at: datetime | None) -> None:
    if expires_at is None:
        return
    if amount < 0:
        raise Unprocessable("expiresAt: only a positive adjustment has an expiry")
    if expires_at.tzinfo is None or expires_at <= datetime.now(UTC):
        raise Unprocessable("expiresAt: must be an instant in the future, with its zone")


async def _entry(_: Db, entry: LedgerEntry) -> LedgerEntry:
    return entry


# The adjustment's success is its ledger entry (it carries the request's ledger key).
POSTED = Answer[LedgerEntry](from_entry=_entry)


async def _post(
    db: Db,
    student_id: uuid.UUID,
    amount: int,
    reason: str,
    actor_id: uuid.UUID,
    request: KeyedRequest | None,
    expires_at: datetime | None,
) -> LedgerEntry:
    posting: dict[str, Any] = {
        "student_id": student_id,
        "amount": abs(amount),
        "source_type": SourceType.ADMIN_ADJUSTMENT,
        "description": reason,
        "actor_id": actor_id,
        "idempotency_key": request.ledger_key if request else None,
        "metadata": request.entry_metadata if request else None,
    }
    if amount > 0:
        entry = await ledger.credit(
            db, **posting, source=LotSource.ADMIN_GRANT, expires_at=expires_at
        )
    else:
        entry = await ledger.debit(db, **posting)
    if entry is None:
        raise AdjustmentExceedsBalance()
    return entry
