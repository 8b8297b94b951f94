"""Holds on credits for live usage, for HTTP and for in-process callers (the voice service).

A hold reserves credits without moving the balance: while ACTIVE and unexpired it counts as
held, and spends and new holds need the AVAILABLE balance (balance minus held) to cover them,
so holds and spends together never take a student below zero. A hold ends exactly once:
CAPTURED (one USAGE ledger entry through the ledger, the rest released), RELEASED, or EXPIRED
when expires_at passes (at once, by the database clock; the sweep only records it).

A student has at most `limits.max_active` active holds (one more is 409 too_many_holds) and
no hold lives past `limits.max_lifetime_seconds` from its creation (a creation or extension
that would is 409 hold_lifetime_exceeded, and the hold stays as it was). Creation counts the
active holds under the student's balance row lock, which every creation takes first, so two
creations racing at the limit cannot both pass.

Every change runs under an Idempotency-Key, like a spend: the same key and request replay the
first answer (refusals included); another request under the key is 409
idempotency_key_reused. THE CALLER OWNS THE TRANSACTION AND MUST COMMIT WHATEVER THE OUTCOME
(a refusal is stored on the key row so that its retry replays it). HoldNotFound (404) and
invalid input (422, 400 for the key) are raised instead, before anything is written; then the
caller rolls back.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from medgrader.core import metrics
from medgrader.core.cursor import decode_seq_cursor, encode_seq_cursor
from medgrader.core.errors import Unprocessable
from medgrader.credits.service import validated_reason
from medgrader.db.lean import SqlSession
from medgrader.holds import repository as sql
from medgrader.holds.limits import HoldLimits
from medgrader.holds.outcomes import (
    AMOUNT_EXCEEDS_HOLD,
    HOLD_CLOSED,
    HOLD_EXPIRED,
    HOLD_LIFETIME_EXCEEDED,
    HOLD_TOO_LARGE,
    INSUFFICIENT,
    TOO_MANY_HOLDS,
    HoldNotFound,
    HoldOutcome,
    answer,
    refusal,
)
from medgrader.holds.schemas import (
    DEFAULT_TTL_SECONDS,
    MAX_HOLD,
    MAX_TTL_SECONDS,
    MIN_TTL_SECONDS,
    HoldOut,
    HoldPage,
)
from medgrader.idempotency import store
from medgrader.idempotency.keys import validate_key
from medgrader.idempotency.store import PriorVerdict
from medgrader.ledger import service as ledger
from medgrader.models.holds import CAPTURE_SOURCE_PREFIX, HoldStatus
from medgrader.models.ledger import SourceType

OPERATIONS = {  # idempotency key space per operation, and the ledger tag of its keys
    "create": ("holds.create", "hold"),
    "extend": ("holds.extend", "extend"),
    "capture": ("holds.capture", "capture"),
    "release": ("holds.release", "release"),
}


def _int_in(name: str, value: object, low: int, high: int) -> int:
    # The same rules as the request schemas, for callers that do not come through HTTP.
    if type(value) is not int or not low <= value <= high:
        raise Unprocessable(f"{name}: must be an integer from {low} to {high}")
    return value


def _request(
    operation: str, student_id: uuid.UUID, key: str, payload: dict[str, Any]
) -> store.KeyedRequest:
    name, tag = OPERATIONS[operation]
    return store.KeyedRequest.of(
        operation=name, ledger_tag=tag, student_id=student_id, key=key, payload=payload
    )


async def _once(
    session: SqlSession,
    request: store.KeyedRequest,
    run: Callable[[], Awaitable[HoldOutcome]],
    *,
    hold_id: uuid.UUID | None = None,
) -> HoldOutcome:
    """Run the operation unless its key was used before; store the answer for replays."""
    prior = await store.claim(session, request)
    if prior is not None:
        return _counted(request, await _replay(session, request, prior, hold_id))
    outcome = await run()
    await store.record(session, request, status=outcome.http_status, body=outcome.body)
    return _counted(request, outcome)


def _counted(request: store.KeyedRequest, outcome: HoldOutcome) -> HoldOutcome:
    """One count per call: the action (create, extend, capture, release) and its outcome."""
    action = request.operation.removeprefix("holds.")
    if outcome.replayed:
        result = "replayed"
    elif outcome.ok:
        result = "ok"
    else:
        result = str(outcome.body.get("code", outcome.http_status))
    metrics.HOLDS.labels(action=action, outcome=result).inc()
    return outcome


async def _replay(
    session: SqlSession,
    request: store.KeyedRequest,
    prior: store.Prior,
    hold_id: uuid.UUID | None,
) -> HoldOutcome:
    if not prior.same_request:
        return refusal(PriorVerdict.KEY_REUSED.value)
    if prior.response_status is not None and prior.response_body is not None:
        return HoldOutcome(prior.response_status, prior.response_body, replayed=True)
    if prior.entry is not None and hold_id is not None:
        # A capture whose key row retention deleted: its entry remains, and so does the hold.
        hold = await get_hold(session, request.student_id, hold_id)
        return HoldOutcome(201, answer(201, hold).body, replayed=True)
    return refusal(PriorVerdict.IN_PROGRESS.value)


def _hold_out(row: Any, *, transaction_id: uuid.UUID | None = None) -> HoldOut:
    return HoldOut(
        hold_id=row.id,
        status=row.status,
        amount=row.amount if row.live else 0,
        captured_amount=row.captured_amount or 0,
        reason=row.reason,
        created_at=row.created_at,
        expires_at=row.expires_at,
        available_balance=row.available_balance,
        # Reads join the capture's entry; a capture passes the entry it just posted.
        transaction_id=transaction_id or getattr(row, "transaction_id", None),
    )


def _insufficient(_: Any) -> str:
    return INSUFFICIENT


async def _why_refused(
    session: SqlSession,
    student_id: uuid.UUID,
    hold_id: uuid.UUID,
    *,
    live: Callable[[Any], str] = _insufficient,
    statement: Any = sql.ONE,
    params: dict[str, Any] | None = None,
) -> HoldOutcome:
    """A conditional UPDATE matched nothing: say why, from the hold as it is now (a fresh
    snapshot: it sees the change that won a race; `statement` reads it, ONE unless the caller
    needs more). `live(row)` names the refusal when the hold is still live, which depends on
    what was asked."""
    values = {"student_id": student_id, "hold_id": hold_id, **(params or {})}
    row = (await session.execute(statement, values)).first()
    if row is None:
        raise HoldNotFound()
    if row.status == HoldStatus.EXPIRED:
        return refusal(HOLD_EXPIRED)
    if row.status != HoldStatus.ACTIVE:
        return refusal(HOLD_CLOSED)
    return refusal(live(row))


async def create_hold(
    session: SqlSession,
    *,
    student_id: uuid.UUID,
    amount: int,
    reason: str,
    idempotency_key: str,
    limits: HoldLimits,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
) -> HoldOutcome:
    """Reserve `amount` credits for `ttl_seconds` (60-86,400). 201 ACTIVE with the available
    balance after it; 409 too_many_holds when the student already has `limits.max_active`
    active holds; 409 hold_lifetime_exceeded when `ttl_seconds` is longer than a hold may
    live; 402 insufficient_credits when the available balance does not cover it (also
    whenever a clawback left it negative). Raises StudentNotFound."""
    key = validate_key(idempotency_key)
    amount = _int_in("amount", amount, 1, MAX_HOLD)
    reason = validated_reason(reason)
    ttl_seconds = _int_in("ttlSeconds", ttl_seconds, MIN_TTL_SECONDS, MAX_TTL_SECONDS)
    payload = {"amount": amount, "reason": reason, "ttlSeconds": ttl_seconds}
    request = _request("create", student_id, key, payload)

    async def run() -> HoldOutcome:
        if ttl_seconds > limits.max_lifetime_seconds:
            return refusal(HOLD_LIFETIME_EXCEEDED)
        # The student's row lock first: the count of active holds below is then final.
        await ledger.lock_balance(session, student_id)
        params = {
            "student_id": student_id,
            "amount": amount,
            "reason": reason,
            "ttl_seconds": ttl_seconds,
            "max_active": limits.max_active,
        }
        row = (await session.execute(sql.CREATE, params)).one_or_none()
        if row is None:
            raise ledger.StudentNotFound()
        if row.id is None:
            return refusal(
                TOO_MANY_HOLDS if row.active_holds >= limits.max_active else INSUFFICIENT
            )
        return answer(201, _hold_out(row))

    return await _once(session, request, run)


async def extend_hold(
    session: SqlSession,
    *,
    student_id: uuid.UUID,
    hold_id: uuid.UUID,
    idempotency_key: str,
    limits: HoldLimits,
    additional_amount: int = 0,
    ttl_seconds: int | None = None,
) -> HoldOutcome:
    """Add `additional_amount` credits to a live hold and/or push its expiry to `ttl_seconds`
    from now (default: the hold's own ttl; never earlier than before). 200 with the hold; 402
    when the extra credits are not available; 409 hold_lifetime_exceeded when the new expiry
    would be more than `limits.max_lifetime_seconds` after the hold's creation (either way the
    hold stays as it was); 409 hold_expired or hold_closed. Raises HoldNotFound for another
    student's or an unknown hold."""
    key = validate_key(idempotency_key)
    additional_amount = _int_in("additionalAmount", additional_amount, 0, MAX_HOLD)
    if ttl_seconds is not None:
        ttl_seconds = _int_in("ttlSeconds", ttl_seconds, MIN_TTL_SECONDS, MAX_TTL_SECONDS)
    payload = {
        "holdId": str(hold_id),
        "additionalAmount": additional_amount,
        "ttlSeconds": ttl_seconds,
    }
    request = _request("extend", student_id, key, payload)

    async def run() -> HoldOutcome:
        if additional_amount:  # only more credits need the balance; a renewal does not
            await ledger.lock_balance(session, student_id)
        lifetime = {"ttl_seconds": ttl_seconds, "max_lifetime_seconds": limits.max_lifetime_seconds}
        params = {
            "student_id": student_id,
            "hold_id": hold_id,
            "additional": additional_amount,
            "max_amount": MAX_HOLD,
            **lifetime,
        }
        row = (await session.execute(sql.EXTEND, params)).one_or_none()
        if row is None:
            return await _why_refused(
                session,
                student_id,
                hold_id,
                live=lambda hold: (
                    HOLD_LIFETIME_EXCEEDED
                    if not hold.within_lifetime
                    else HOLD_TOO_LARGE
                    if hold.amount + additional_amount > MAX_HOLD
                    else INSUFFICIENT
                ),
                statement=sql.EXTEND_REFUSED,
                params=lifetime,
            )
        return answer(200, _hold_out(row))

    return await _once(session, request, run, hold_id=hold_id)


async def capture_hold(
    session: SqlSession,
    *,
    student_id: uuid.UUID,
    hold_id: uuid.UUID,
    idempotency_key: str,
    amount: int | None = None,
) -> HoldOutcome:
    """Charge `amount` credits of a live hold (default: all it holds) as ONE USAGE ledger entry
    and release the rest: 201 CAPTURED with the entry's transactionId. `amount=0` releases the
    hold (200 RELEASED, nothing charged). 409 hold_expired / hold_closed; 422
    amount_exceeds_hold; 402 only if a clawback took the balance below what the hold covers
    (the hold then stays ACTIVE). A hold is captured at most once, however many race."""
    key = validate_key(idempotency_key)
    if amount is not None:
        amount = _int_in("amount", amount, 0, MAX_HOLD)
    request = _request("capture", student_id, key, {"holdId": str(hold_id), "amount": amount})

    async def run() -> HoldOutcome:
        # The balance row first, like every posting: then the check below is final.
        await ledger.lock_balance(session, student_id)
        params = {"student_id": student_id, "hold_id": hold_id, "amount": amount}
        row = (await session.execute(sql.CAPTURE, params)).one_or_none()
        if row is None:
            return await _why_refused(
                session,
                student_id,
                hold_id,
                live=lambda hold: (
                    AMOUNT_EXCEEDS_HOLD
                    if amount is not None and amount > hold.amount
                    else INSUFFICIENT
                ),
            )
        if row.charged == 0:
            return answer(200, _hold_out(row))
        # The hold is no longer held, so the ledger's own guard (available >= charge) is the
        # same condition the UPDATE just checked under the same lock.
        entry = await ledger.debit(
            session,
            student_id=student_id,
            amount=int(row.charged),
            source_type=SourceType.USAGE,
            source_id=f"{CAPTURE_SOURCE_PREFIX}{row.id}",
            description=row.reason,
            metadata=request.entry_metadata | {"holdId": str(row.id)},
            idempotency_key=request.ledger_key,
        )
        if entry is None:  # pragma: no cover - the UPDATE above checked the same condition
            raise RuntimeError(f"capture of hold {row.id} not covered after its check")
        return answer(201, _hold_out(row, transaction_id=entry.id))

    return await _once(session, request, run, hold_id=hold_id)


async def release_hold(
    session: SqlSession, *, student_id: uuid.UUID, hold_id: uuid.UUID, idempotency_key: str
) -> HoldOutcome:
    """End a live hold without charging: 200 RELEASED; 409 hold_expired / hold_closed."""
    key = validate_key(idempotency_key)
    request = _request("release", student_id, key, {"holdId": str(hold_id)})

    async def run() -> HoldOutcome:
        params = {"student_id": student_id, "hold_id": hold_id}
        row = (await session.execute(sql.RELEASE, params)).one_or_none()
        if row is None:
            # A live hold always matches the release, so the answer is expired or closed.
            return await _why_refused(session, student_id, hold_id)
        return answer(200, _hold_out(row))

    return await _once(session, request, run, hold_id=hold_id)


async def get_hold(session: SqlSession, student_id: uuid.UUID, hold_id: uuid.UUID) -> HoldOut:
    """The student's own hold; HoldNotFound for anyone else's."""
    row = (await session.execute(sql.ONE, {"student_id": student_id, "hold_id": hold_id})).first()
    if row is None:
        raise HoldNotFound()
    return _hold_out(row)


async def list_holds(
    session: SqlSession,
    student_id: uuid.UUID,
    *,
    status: str | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> HoldPage:
    """The student's holds, newest first, optionally of one status (as readers see it: a
    hold past its expiry is EXPIRED)."""
    if status is not None:
        status = status.strip().upper()
        if status not in HoldStatus.__members__:
            raise Unprocessable(f"status: one of {', '.join(HoldStatus)}")
    params = {
        "student_id": student_id,
        "status": status,
        "before_seq": decode_seq_cursor(cursor) if cursor else None,
        "limit": limit + 1,  # one more tells whether another page exists
    }
    rows = (await session.execute(sql.PAGE, params)).all()
    page = rows[:limit]
    next_cursor = encode_seq_cursor(page[-1].seq) if len(rows) > limit else None
    return HoldPage(items=[_hold_out(row) for row in page], next_cursor=next_cursor)


async def expire_due_holds(session: SqlSession, *, batch: int = 1000) -> int:
    """Mark up to `batch` holds past their expiry EXPIRED; returns how many. Correctness never
    waits for this: an expired hold stopped counting when its time passed."""
    expired = int((await session.execute(sql.SWEEP, {"batch": batch})).scalar_one())
    if expired:
        metrics.HOLDS.labels(action="expire", outcome="ok").inc(expired)
    return expired
