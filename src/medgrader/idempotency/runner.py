"""THE idempotent runner: claim the key, run the operation, store the answer, replay it.

Every write under an Idempotency-Key goes through here (the spend, the four hold operations,
admin credit adjustments, admin refunds, and whatever comes next), in the caller's unit of
work:

- the same key and request give the first answer again (`Done.replayed`, or the refusal with
  `replayed` set): the success's value, or the refusal with its code and fields;
- the same key with another request is `IdempotencyKeyReused` (409); while the first request
  has not answered, `RequestInProgress` (409);
- a `Refusal` (core.errors) is an answer: it is stored, and marked `keep_transaction` so that
  the edge's unit of work commits it before the error propagates. Any other error (not found,
  validation) gives the key back (even if the edge goes on to commit, e.g. a page that shows
  the error); a database error rolls everything back: either way the key stays unused.

How a success is kept is the operation's `Answer`: stored on the key row (`dump`/`load`), or,
for an operation whose ledger entry carries the request's ledger key, rebuilt from that entry
(`from_entry`): the spend's answer costs no statement under the balance row's lock.

An operation around an external call (the admin refund) spans two transactions: `start` claims
the key and stores the resolved request (the plan) in the first, which the edge commits before
the call (db.transactions.external_call); `finish` (or `refuse`) stores the answer in the
second. A retry whose first attempt never answered (it crashed after the call) gets the stored
plan back (`Started.resumed`), sends exactly it again, under the same key at the other end,
and finishes. The key is taken when the request goes out, as at Stripe: a refusal before the
call (the request checked against our records) gives the key back, while the other end's
refusal is its answer under the key, stored and replayed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from medgrader.core.errors import AppError, Refusal
from medgrader.core.statuses import status_of
from medgrader.db.session import Db
from medgrader.idempotency import store
from medgrader.idempotency.errors import IdempotencyKeyReused, RequestInProgress
from medgrader.idempotency.store import KeyedRequest, Prior
from medgrader.ledger.service import LedgerEntry

T = TypeVar("T")

# What a stored success is filed under: any status below 400 (the edge picks the real one).
STORED_SUCCESS = 200


@dataclass(frozen=True)
class Answer(Generic[T]):
    """How an operation's success is kept for replays."""

    # To and from the JSON stored on the key row; None: the success is not stored there.
    dump: Callable[[T], dict[str, Any]] | None = None
    load: Callable[[dict[str, Any]], T] | None = None
    # Rebuilt from the ledger entry that carries the request's ledger key.
    from_entry: Callable[[Db, LedgerEntry], Awaitable[T]] | None = None


@dataclass(frozen=True)
class Done(Generic[T]):
    value: T
    # True: this call did nothing and gives the first answer under its key again.
    replayed: bool = False


async def run_once(
    db: Db, request: KeyedRequest, operation: Callable[[], Awaitable[T]], answer: Answer[T]
) -> Done[T]:
    """Run `operation` once per key (see the module docstring)."""
    prior = await store.claim(db, request)
    if prior is not None:
        return await _replay(db, prior, answer)
    try:
        value = await operation()
    except Refusal as refusal:
        await _record_refusal(db, request, refusal)
        raise
    except AppError:
        await store.release(db, request)
        raise
    if answer.dump is not None:
        await store.record(db, request, status=STORED_SUCCESS, body=answer.dump(value))
    return Done(value)


async def _record_refusal(db: Db, request: KeyedRequest, refusal: Refusal) -> None:
    """Store the refusal as the key's answer; the unit of work commits it (keep_transaction).
    The operation raised it before writing anything: no partial change commits with it."""
    await store.record(db, request, status=status_of(refusal), body=refusal.body())
    refusal.keep_transaction = True


def replayed_refusal(body: dict[str, Any]) -> AppError:
    refusal = AppError.from_body(body)
    refusal.replayed = True
    return refusal


async def _replay(db: Db, prior: Prior, answer: Answer[T]) -> Done[T]:
    if not prior.same_request:
        raise IdempotencyKeyReused()
    if prior.response_status is not None and prior.response_body is not None:
        if prior.response_status >= 400:
            raise replayed_refusal(prior.response_body)
        if answer.load is not None:
            return Done(answer.load(prior.response_body), replayed=True)
    if prior.entry is not None and answer.from_entry is not None:
        # The success is its ledger entry (or the key row is gone: retention).
        return Done(await answer.from_entry(db, prior.entry), replayed=True)
    raise RequestInProgress()


@dataclass(frozen=True)
class Started:
    """The first transaction of an operation around an external call is done: send `plan`."""

    plan: dict[str, Any]
    # True: a first attempt stored this plan and never answered; it is sent again as it was.
    resumed: bool = False


async def start(
    db: Db,
    request: KeyedRequest,
    plan: Callable[[], Awaitable[dict[str, Any]]],
    answer: Answer[T],
) -> Started | Done[T]:
    """Claim the key and resolve the request (`plan()`; a refusal it raises gives the key
    back: nothing went out); store the plan. A replay
    answers `Done`; a retry of an attempt that never answered gets its stored plan back. The
    edge commits before the external call."""
    prior = await store.claim(db, request)
    if prior is not None:
        if prior.same_request and prior.response_status is None and prior.plan is not None:
            return Started(prior.plan, resumed=True)
        return await _replay(db, prior, answer)
    try:
        resolved = await plan()
    except AppError:
        await store.release(db, request)
        raise
    await store.save_plan(db, request, resolved)
    return Started(resolved)


async def finish(db: Db, request: KeyedRequest, value: T, answer: Answer[T]) -> Done[T]:
    """Store the answer of an operation begun with `start` (in the transaction after the
    external call). Should a concurrent retry have stored one first, that one is answered."""
    assert answer.dump is not None
    assert answer.load is not None
    await store.record(db, request, status=STORED_SUCCESS, body=answer.dump(value))
    stored = await store.answer(db, request)
    assert stored is not None  # stored now, or by the request that got there first
    status, body = stored
    if status >= 400:
        raise replayed_refusal(body)
    return Done(answer.load(body))


async def refuse(db: Db, request: KeyedRequest, refusal: Refusal) -> Refusal:
    """Store a refusal that came back from the external call as the key's answer; returns it
    for the edge to raise (its transaction is kept)."""
    await _record_refusal(db, request, refusal)
    return refusal
