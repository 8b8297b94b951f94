"""Holds on credits for live usage, for HTTP and for in-process callers (the voice service).

A hold reserves credits without moving the balance: while ACTIVE and unexpired it counts as
held, and spends and new holds need the AVAILABLE balance (balance minus held) to cover them,
so holds and spends together never take a student below zero. A hold ends exactly once:
CAPTURED (one USAGE ledger entry through the ledger, the rest released), RELEASED, or EXPIRED
when expires_at passes (at once, by the database clock; the sweep only records it).

A student has at most `limits.max_active` active holds (one more is TooManyHolds) and no hold
lives past `limits.max_lifetime_seconds` from its creation (a creation or extension that would
is HoldLifetimeExceeded, and the hold stays as it was). Creation counts the active holds under
the student's balance row lock, which every creation takes first, so two creations racing at
the limit cannot both pass.

Every change runs under an Idempotency-Key through the idempotent runner, like a spend: the
same key and request give the first answer again (refusals included); another request under
the key raises IdempotencyKeyReused. A change returns the hold (`HoldResult`) or raises a
refusal (InsufficientCredits, HoldExpired, HoldClosed, AmountExceedsHold, HoldTooLarge,
TooManyHolds, HoldLifetimeExceeded), which
the runner stores and whose transaction it keeps, so the edge commits it. HoldNotFound and
invalid input (Unprocessable, the key's BadRequest) store nothing: the edge rolls back.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from medgrader.core import metrics
from medgrader.core.cursor import seq_page
from medgrader.core.errors import AppError, Refusal, Unprocessable
from medgrader.credits.errors import InsufficientCredits
from medgrader.credits.service import validated_reason
from medgrader.db.session import Db
from medgrader.holds import repository as sql
from medgrader.holds.errors import (
    AmountExceedsHold,
    HoldClosed,
    HoldExpired,
    HoldLifetimeExceeded,
    HoldNotFound,
    HoldTooLarge,
    TooManyHolds,
)
from medgrader.holds.limits import HoldLimits
from medgrader.holds.schemas import (
    DEFAULT_TTL_SECONDS,
    MAX_HOLD,
    MAX_TTL_SECONDS,
    MIN_TTL_SECONDS,
    HoldOut,
    HoldPage,
)
from medgrader.idempotency.errors import IdempotencyKeyReused, RequestInProgress
from medgrader.idempotency.keys import validate_key
from medgrader.idempotency.runner import Answer, run_once
from medgrader.idempotency.store import KeyedRequest
from medgrader.ledger import service as ledger
from medgrader.ledger.service import LedgerEntry
from medgrader.ledger.threshold import after_debit
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


# The answers counted by outcome (a missing hold or student is not an outcome of the hold).
COUNTED_ERRORS = (Refusal, IdempotencyKeyReused, RequestInProgress)


def _request(
    operation: str, student_id: uuid.UUID, key: str, payload: dict[str, Any]
) -> KeyedRequest:
    name, tag = OPERATIONS[operation]
    return KeyedRequest.of(
        operation=name, ledger_tag=tag, owner_id=student_id, key=key, payload=payload
    )


@dataclass(frozen=True)
class HoldResult:
    """A hold operation's answer: the hold as it now stands."""

    hold: HoldOut
    # True: this call did nothing and gives the first answer under its Idempotency-Key again.
    replayed: bool = False


def _answer(hold_id: uuid.UUID | None = None) -> Answer[HoldOut]:
    """The hold, stored on the key row for replays (JSON-ready: ISO times, string ids); a
    capture whose key row retention deleted is rebuilt from its hold (its entry remains)."""

    async def from_entry(db: Db, entry: LedgerEntry) -> HoldOut:
        assert hold_id is not None
        return await get_hold(db, entry.student_id, hold_id)

    return Answer(
        dump=lambda hold: hold.model_dump(mode="json", by_alias=True),
        load=HoldOut.model_validate,
        from_entry=from_entry if hold_id is not None else None,
    )


async def _once(
    db: Db,
    request: KeyedRequest,
    run: Callable[[], Awaitable[HoldOut]],
    *,
    hold_id: uuid.UUID | None = None,
) -> HoldResult:
    """Run the operation once per key (idempotency.runner), counted."""
    action = request.operation.removeprefix("holds.")
    try:
        done = await run_once(db, request, run, _answer(hold_id))
    except AppError as error:
        if isinstance(error, COUNTED_ERRORS) or error.replayed:
            result = "replayed" if error.replayed else error.code
            metrics.HOLDS.labels(action=action, outcome=result).inc()
        raise
    metrics.HOLDS.labels(action=action, outcome="replayed" if done.replayed else "ok").inc()
    return HoldResult(done.value, replayed=done.replayed)


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


def _insufficient(_: Any) -> Refusal:
    return InsufficientCredits()


async def _why_refused(
    db: Db,
    student_id: uuid.UUID,
    hold_id: uuid.UUID,
    *,
    live: Callable[[Any], Refusal] = _insufficient,
    statement: Any = sql.ONE,
    params: dict[str, Any] | None = None,
) -> Refusal:
    """A conditional UPDATE matched nothing: say why, from the hold as it is now (a fresh
    snapshot: it sees the change that won a race; `statement` reads it, ONE unless the caller
    needs more). `live(row)` names the refusal when the hold is still live, which depends on
    what was asked."""
    values = {"student_id": student_id, "hold_id": hold_id, **(params or {})}
    row = (await db.execute(statement, values)).first()
    if row is None:
        raise HoldNotFound()
    if row.status == HoldStatus.EXPIRED:
        return HoldExpired()
    if row.status != HoldStatus.ACTIVE:
        return HoldClosed()
    return live(row)


async def create_hold(
    db: Db,
    *,
    student_id: uuid.UUID,
    amount: int,
    reason: str,
    idempotency_key: str,
    limits: HoldLimits,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
) -> HoldResult:
    """Reserve `amount` credits for `ttl_seconds` (60-86,400): the ACTIVE hold with the
    available balance after it; TooManyHolds when the student already has `limits.max_active`
    active holds; HoldLifetimeExceeded when `ttl_seconds` is longer than a hold may live;
    InsufficientCredits when the available balance does not cover it (also whenever a
    clawback left it negative). Raises StudentNotFound."""
    key = validate_key(idempotency_key)
    amount = _int_in("amount", amount, 1, MAX_HOLD)
    reason = validated_reason(reason)
    ttl_seconds = _int_in("ttlSeconds", ttl_seconds, MIN_TTL_SECONDS, MAX_TTL_SECONDS)
    payload = {"amount": amount, "reason": reason, "ttlSeconds": ttl_seconds}
    request = _request("create", student_id, key, payload)

    async def run() -> HoldOut:
        if ttl_seconds > limits.max_lifetime_seconds:
            raise HoldLifetimeExceeded()
        # The student's row lock first: the count of active holds below is then final.
        await ledger.lock_balance(db, student_id)
        params = {
            "hold_id": uuid.uuid4(),
            "student_id": student_id,
            "amount": amount,
            "reason": reason,
            "ttl_seconds": ttl_seconds,
            "max_active": limits.max_active,
        }
        row = (await db.execute(sql.CREATE, params)).one_or_none()
        if row is None:
            raise ledger.StudentNotFound()
        if row.id is None:
            if row.active_holds >= limits.max_active:
                raise TooManyHolds()
            raise InsufficientCredits()
        # (Its credits are already reserved in lots: sql.CREATE does it.)
        # A hold lowers the available balance like a debit: the one top-up hook.
        await after_debit(db, student_id)
        return _hold_out(row)

    return await _once(db, request, run)


async def extend_hold(
    db: Db,
    *,
    student_id: uuid.UUID,
    hold_id: uuid.UUID,
    idempotency_key: str,
    limits: HoldLimits,
    additional_amount: int = 0,
    ttl_seconds: int | None = None,
) -> HoldResult:
    """Add `additional_amount` credits to a live hold and/or push its expiry to `ttl_seconds`
    from now (default: the hold's own ttl; never earlier than before). InsufficientCredits
    when the extra credits are not available; HoldLifetimeExceeded when the new expiry would
    be more than `limits.max_lifetime_seconds` after the hold's creation (either way the hold
    stays as it was); HoldExpired or HoldClosed. Raises HoldNotFound for another student's or
    an unknown hold."""
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

    async def run() -> HoldOut:
        if additional_amount:  # only more credits need the balance; a renewal does not
            await ledger.lock_balance(db, student_id)
        lifetime = {"ttl_seconds": ttl_seconds, "max_lifetime_seconds": limits.max_lifetime_seconds}
        params = {
            "student_id": student_id,
            "hold_id": hold_id,
            "additional": additional_amount,
            "max_amount": MAX_HOLD,
            **lifetime,
        }
        row = (await db.execute(sql.EXTEND, params)).one_or_none()
        if row is None:
            raise await _why_refused(
                db,
                student_id,
                hold_id,
                live=lambda hold: (
                    HoldLifetimeExceeded()
                    if not hold.within_lifetime
                    else HoldTooLarge()
                    if hold.amount + additional_amount > MAX_HOLD
                    else InsufficientCredits()
                ),
                statement=sql.EXTEND_REFUSED,
                params=lifetime,
            )
        if additional_amount:  # more credits held (sql.EXTEND reserved them in lots)
            await after_debit(db, student_id)  # the available balance went down
        return _hold_out(row)

    return await _once(db, request, run, hold_id=hold_id)


async def capture_hold(
    db: Db,
    *,
    student_id: uuid.UUID,
    hold_id: uuid.UUID,
    idempotency_key: str,
    amount: int | None = None,
) -> HoldResult:
    """Charge `amount` credits of a live hold (default: all it holds) as ONE USAGE ledger entry
    and release the rest: CAPTURED with the entry's transactionId. `amount=0` releases the
    hold (RELEASED, nothing charged). HoldExpired / HoldClosed; AmountExceedsHold;
    InsufficientCredits only if a clawback took the balance below what the hold covers (the
    hold then stays ACTIVE). A hold is captured at most once, however many race."""
    key = validate_key(idempotency_key)
    if amount is not None:
        amount = _int_in("amount", amount, 0, MAX_HOLD)
    request = _request("capture", student_id, key, {"holdId": str(hold_id), "amount": amount})

    async def run() -> HoldOut:
        # The balance row first, like every posting: then the check below is final.
        await ledger.lock_balance(db, student_id)
        params = {"student_id": student_id, "hold_id": hold_id, "amount": amount}
        row = (await db.execute(sql.CAPTURE, params)).one_or_none()
        if row is None:
            raise await _why_refused(
                db,
                student_id,
                hold_id,
                live=lambda hold: (
                    AmountExceedsHold()
                    if amount is not None and amount > hold.amount
                    else InsufficientCredits()
                ),
            )
        if row.charged == 0:
            await ledger.sync_hold_lots(db, hold_id)  # all its credits back to their lots
            return _hold_out(row)
        # The hold is no longer held, so the ledger's own guard (available >= charge) is the
        # same condition the UPDATE just checked under the same lock.
        entry = await ledger.debit(
            db,
            student_id=student_id,
            amount=int(row.charged),
            source_type=SourceType.USAGE,
            source_id=f"{CAPTURE_SOURCE_PREFIX}{row.id}",
            description=row.reason,
            metadata=request.entry_metadata | {"holdId": str(row.id)},
            idempotency_key=request.ledger_key,
            hold_id=row.id,  # the credits it reserved, the rest back to their lots
        )
        if entry is None:  # pragma: no cover - the UPDATE above checked the same condition
            raise RuntimeError(f"capture of hold {row.id} not covered after its check")
        return _hold_out(row, transaction_id=entry.id)

    return await _once(db, request, run, hold_id=hold_id)


async def release_hold(
    db: Db, *, student_id: uuid.UUID, hold_id: uuid.UUID, idempotency_key: str
) -> HoldResult:
    """End a live hold without charging: RELEASED; HoldExpired / HoldClosed."""
    key = validate_key(idempotency_key)
    request = _request("release", student_id, key, {"holdId": str(hold_id)})

    async def run() -> HoldOut:
        # Its credits go back to their lots: under the balance row lock, like every lot change.
        await ledger.lock_balance(db, student_id)
        params = {"student_id": student_id, "hold_id": hold_id}
        row = (await db.execute(sql.RELEASE, params)).one_or_none()
        if row is None:
            # A live hold always matches the release, so the answer is expired or closed.
            raise await _why_refused(db, student_id, hold_id)
        await ledger.sync_hold_lots(db, hold_id)
        return _hold_out(row)

    return await _once(db, request, run, hold_id=hold_id)


async def get_hold(db: Db, student_id: uuid.UUID, hold_id: uuid.UUID) -> HoldOut:
    """The student's own hold; HoldNotFound for anyone else's."""
    row = (await db.execute(sql.ONE, {"student_id": student_id, "hold_id": hold_id})).first()
    if row is None:
        raise HoldNotFound()
    return _hold_out(row)


async def list_holds(
    db: Db,
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
    params = {"student_id": student_id, "status": status}
    page, next_cursor = await seq_page(db, sql.PAGE, params, cursor=cursor, limit=limit)
    return HoldPage(items=[_hold_out(row) for row in page], next_cursor=next_cursor)
