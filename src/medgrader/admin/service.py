"""Admin credit adjustments: a signed correction posted as one ADMIN_ADJUSTMENT entry."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from medgrader.admin.schemas import MAX_ADJUSTMENT, AdjustmentOut
from medgrader.core.errors import Unprocessable
from medgrader.credits.service import validated_reason
from medgrader.idempotency import store
from medgrader.idempotency.keys import validate_key
from medgrader.idempotency.store import PriorVerdict
from medgrader.ledger import service as ledger
from medgrader.ledger.service import LedgerEntry
from medgrader.models.ledger import SourceType

ADJUST_OPERATION = "admin.credit_adjustment"
ADJUST_LEDGER_TAG = "adjust"
INSUFFICIENT_BODY = {
    "error": "The student's balance does not cover this negative adjustment.",
    "code": "insufficient_credits",
}


@dataclass(frozen=True)
class AdjustmentOutcome:
    """status 201 with `entry`, or an error status with `body` (nothing was posted)."""

    status: int
    body: dict[str, Any]
    entry: LedgerEntry | None = None
    replayed: bool = False


async def adjust_credits(
    session: AsyncSession,
    *,
    student_id: uuid.UUID,
    amount: int,
    reason: str,
    actor_id: uuid.UUID,
    idempotency_key: str | None = None,
) -> AdjustmentOutcome:
    """Add (amount > 0) or remove (amount < 0) credits, recording the admin as the actor.

    A negative adjustment must be covered by the available balance (the balance minus active
    holds; never below zero: only refund and dispute clawbacks may do that); otherwise 409
    `insufficient_credits` and nothing posted.
    With an idempotency key (scoped to the target student and to adjustments: the student's own
    spend keys never collide with it) a retry replays the first answer, exactly like a spend;
    the caller commits whatever the outcome. Without a key every call posts a new entry, so a
    retried call credits or debits again. Raises StudentNotFound.
    """
    if type(amount) is not int or amount == 0 or abs(amount) > MAX_ADJUSTMENT:
        raise Unprocessable(
            f"amount: must be a non-zero integer from -{MAX_ADJUSTMENT} to {MAX_ADJUSTMENT}"
        )
    reason = validated_reason(reason)

    request = None
    if idempotency_key is not None:
        request = store.KeyedRequest.of(
            operation=ADJUST_OPERATION,
            ledger_tag=ADJUST_LEDGER_TAG,
            student_id=student_id,
            key=validate_key(idempotency_key),
            payload={"amount": amount, "reason": reason, "actor": str(actor_id)},
        )
        prior = await store.claim(session, request)
        if prior is not None:
            return _replay(prior, reason=reason, actor_id=actor_id)

    posting: dict[str, Any] = {
        "student_id": student_id,
        "amount": abs(amount),
        "source_type": SourceType.ADMIN_ADJUSTMENT,
        "description": reason,
        "actor_id": actor_id,
        "idempotency_key": request.ledger_key if request else None,
        "metadata": request.entry_metadata if request else None,
    }
    entry = (
        await ledger.credit(session, **posting)
        if amount > 0
        else await ledger.debit(session, **posting)
    )
    if entry is None:
        if request is not None:
            await store.record(session, request, status=409, body=INSUFFICIENT_BODY)
        return AdjustmentOutcome(409, INSUFFICIENT_BODY)
    return _created(entry, reason=reason, actor_id=actor_id)


def _created(
    entry: LedgerEntry, *, reason: str, actor_id: uuid.UUID, replayed: bool = False
) -> AdjustmentOutcome:
    out = AdjustmentOut(
        transaction_id=entry.id,
        student_id=entry.student_id,
        type=entry.entry_type.value,
        amount=entry.amount,
        balance_after=entry.balance_after,
        source_type=entry.source_type.value,
        description=reason,
        actor_id=actor_id,
        created_at=entry.created_at,
    )
    return AdjustmentOutcome(
        201, out.model_dump(mode="json", by_alias=True), entry=entry, replayed=replayed
    )


def _replay(prior: store.Prior, *, reason: str, actor_id: uuid.UUID) -> AdjustmentOutcome:
    verdict = prior.verdict
    if verdict is PriorVerdict.SUCCEEDED:
        # Same request hash, so the same reason and the same admin as the first time.
        assert prior.entry is not None
        return _created(prior.entry, reason=reason, actor_id=actor_id, replayed=True)
    if verdict is PriorVerdict.REFUSED:
        assert prior.response_status is not None
        return AdjustmentOutcome(prior.response_status, prior.response_body or {}, replayed=True)
    return AdjustmentOutcome(409, {"error": store.KEY_MESSAGES[verdict], "code": verdict.value})
