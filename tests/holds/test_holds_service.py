"""The in-process functions (what the voice service calls without HTTP): the same guarantees
in a pipelined unit of work and in a plain one, bad input raising before any write, and the
cases only a clawback or a long wait can produce."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from medgrader.core.context import AppContext
from medgrader.core.errors import AppError, BadRequest, Refusal, Unprocessable
from medgrader.core.statuses import status_of
from medgrader.db.transactions import unit_of_work
from medgrader.holds import service as holds
from medgrader.holds.errors import HoldNotFound
from medgrader.holds.limits import HoldLimits
from medgrader.holds.schemas import HoldOut
from medgrader.idempotency.errors import IdempotencyKeyReused, RequestInProgress
from medgrader.ledger import service as ledger
from medgrader.models.ledger import SourceType
from tests.credits.factory import new_key
from tests.holds.support import capture_entries, hold_row
from tests.support.accounts import Account
from tests.support.invariants import ledger_balance
from tests.support.services import ServiceRunner

pytestmark = pytest.mark.usefixtures("invariants")
NewStudent = Callable[..., Account]
Operation = Callable[[Any], Awaitable[holds.HoldResult]]
LIMITS = HoldLimits(max_active=5, max_lifetime_seconds=14_400)  # the settings' defaults


@dataclass(frozen=True)
class Answer:
    """What an operation answered: the hold, or the refusal it raised (and that its unit of
    work committed), with the refusal's code and its HTTP status from the one status table."""

    hold: HoldOut | None = None
    replayed: bool = False
    error: AppError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def code(self) -> str | None:
        return None if self.error is None else self.error.code

    @property
    def http_status(self) -> int | None:
        return None if self.error is None else status_of(self.error)


def _answered(run: Callable[[], holds.HoldResult]) -> Answer:
    try:
        result = run()
    except (Refusal, IdempotencyKeyReused, RequestInProgress) as refusal:
        return Answer(replayed=refusal.replayed, error=refusal)
    return Answer(result.hold, result.replayed)


def _orm(services: ServiceRunner, operation: Operation) -> Answer:
    """In the edge's unit of work (pipeline mode)."""
    return _answered(lambda: services.in_transaction(lambda session, _: operation(session)))


def _lean(services: ServiceRunner, operation: Operation) -> Answer:
    """In a unit of work without pipeline mode (a streaming one): the same answers."""

    async def run(ctx: AppContext) -> holds.HoldResult:
        async with unit_of_work(ctx.db_pool, pipeline=False) as session:
            return await operation(session)

    return _answered(lambda: services.run(run))


@pytest.mark.parametrize("path", [_orm, _lean], ids=["pipeline", "plain"])
def test_the_whole_lifecycle_in_process(
    services: ServiceRunner,
    db: psycopg.Connection,
    new_student: NewStudent,
    path: Callable[[ServiceRunner, Operation], Answer],
) -> None:
    student = uuid.UUID(new_student(balance=30).id)
    created = path(
        services,
        lambda s: holds.create_hold(
            s,
            limits=LIMITS,
            student_id=student,
            amount=10,
            reason="voice",
            idempotency_key=new_key(),
        ),
    )
    assert created.ok
    assert created.hold is not None
    hold_id = created.hold.hold_id
    assert (created.hold.status, created.hold.available_balance) == ("ACTIVE", 20)

    key = new_key()
    extend = lambda s: holds.extend_hold(  # noqa: E731
        s, limits=LIMITS, student_id=student, hold_id=hold_id, additional_amount=5,
        idempotency_key=key,
    )  # fmt: skip
    extended = path(services, extend)
    assert (extended.ok, extended.hold and extended.hold.amount) == (True, 15)
    replayed = path(services, extend)
    assert (replayed.replayed, replayed.hold) == (True, extended.hold)

    refused = path(
        services,
        lambda s: holds.extend_hold(
            s,
            limits=LIMITS,
            student_id=student,
            hold_id=hold_id,
            additional_amount=16,
            idempotency_key=new_key(),
        ),
    )
    assert (refused.ok, refused.code) == (False, "insufficient_credits")

    captured = path(
        services,
        lambda s: holds.capture_hold(
            s, student_id=student, hold_id=hold_id, amount=12, idempotency_key=new_key()
        ),
    )
    assert captured.hold is not None
    assert (captured.ok, captured.hold.status, captured.hold.captured_amount) == (
        True,
        "CAPTURED",
        12,
    )
    assert capture_entries(db, str(hold_id)) == [(12, "DEBIT")]
    assert ledger_balance(db, str(student)) == (18, 18)
    closed = path(
        services,
        lambda s: holds.release_hold(
            s, student_id=student, hold_id=hold_id, idempotency_key=new_key()
        ),
    )
    assert (closed.http_status, closed.code) == (409, "hold_closed")


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"amount": 0}, Unprocessable),
        ({"amount": True}, Unprocessable),
        ({"amount": 1_000_001}, Unprocessable),
        ({"reason": " "}, Unprocessable),
        ({"reason": "a\x00b"}, Unprocessable),
        ({"ttl_seconds": 59}, Unprocessable),
        ({"idempotency_key": ""}, BadRequest),
        ({"idempotency_key": "with space"}, BadRequest),
    ],
)
def test_bad_input_raises_before_anything_is_written(
    services: ServiceRunner,
    db: psycopg.Connection,
    new_student: NewStudent,
    arguments: dict[str, Any],
    error: type[Exception],
) -> None:
    student = uuid.UUID(new_student(balance=30).id)
    call = {"amount": 5, "reason": "voice", "idempotency_key": new_key(), **arguments}
    with pytest.raises(error):
        _orm(services, lambda s: holds.create_hold(s, limits=LIMITS, student_id=student, **call))
    counts = db.execute(
        "SELECT (SELECT count(*) FROM credit_holds WHERE student_id = %(s)s),"
        " (SELECT count(*) FROM idempotency_keys WHERE student_id = %(s)s)",
        {"s": student},
    ).fetchone()
    assert counts == (0, 0)


def test_an_unknown_hold_raises_not_found(services: ServiceRunner, new_student: NewStudent) -> None:
    student = uuid.UUID(new_student(balance=30).id)
    with pytest.raises(HoldNotFound):
        _orm(
            services,
            lambda s: holds.capture_hold(
                s, student_id=student, hold_id=uuid.uuid4(), idempotency_key=new_key()
            ),
        )


def test_after_a_clawback_new_holds_are_refused_and_a_capture_is_not_covered(
    services: ServiceRunner, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = uuid.UUID(new_student(balance=20).id)
    created = _orm(
        services,
        lambda s: holds.create_hold(
            s,
            limits=LIMITS,
            student_id=student,
            amount=15,
            reason="voice",
            idempotency_key=new_key(),
        ),
    )
    assert created.hold is not None
    hold_id = created.hold.hold_id
    services.in_transaction(
        lambda session, _: ledger.clawback(
            session,
            student_id=student,
            amount=10,
            source_type=SourceType.REFUND,
            description="refund",
        )
    )  # balance 10, held 15: available -5
    another = _orm(
        services,
        lambda s: holds.create_hold(
            s,
            limits=LIMITS,
            student_id=student,
            amount=1,
            reason="voice",
            idempotency_key=new_key(),
        ),
    )
    assert (another.http_status, another.code) == (402, "insufficient_credits")
    renewal = _orm(
        services,
        lambda s: holds.extend_hold(
            s, limits=LIMITS, student_id=student, hold_id=hold_id, idempotency_key=new_key()
        ),
    )
    assert renewal.ok  # a renewal needs no credits
    too_much = _orm(
        services,
        lambda s: holds.capture_hold(
            s, student_id=student, hold_id=hold_id, amount=11, idempotency_key=new_key()
        ),
    )
    assert (too_much.http_status, too_much.code) == (402, "insufficient_credits")
    assert hold_row(db, str(hold_id)) == ("ACTIVE", 15, None)
    covered = _orm(
        services,
        lambda s: holds.capture_hold(
            s, student_id=student, hold_id=hold_id, amount=10, idempotency_key=new_key()
        ),
    )
    assert covered.ok
    assert covered.hold is not None
    assert covered.hold.status == "CAPTURED"
    assert ledger_balance(db, str(student)) == (0, 0)


def test_an_extension_past_the_largest_hold_is_refused(
    services: ServiceRunner, new_student: NewStudent
) -> None:
    student = uuid.UUID(new_student(balance=2_000_000).id)
    created = _orm(
        services,
        lambda s: holds.create_hold(
            s,
            limits=LIMITS,
            student_id=student,
            amount=999_999,
            reason="voice",
            idempotency_key=new_key(),
        ),
    )
    assert created.hold is not None
    hold_id = created.hold.hold_id
    refused = _orm(
        services,
        lambda s: holds.extend_hold(
            s,
            limits=LIMITS,
            student_id=student,
            hold_id=hold_id,
            additional_amount=2,
            idempotency_key=new_key(),
        ),
    )
    assert (refused.http_status, refused.code) == (422, "hold_too_large")


def test_a_capture_replays_from_its_entry_after_the_key_row_is_gone(
    services: ServiceRunner, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = uuid.UUID(new_student(balance=20).id)
    created = _orm(
        services,
        lambda s: holds.create_hold(
            s,
            limits=LIMITS,
            student_id=student,
            amount=8,
            reason="voice",
            idempotency_key=new_key(),
        ),
    )
    assert created.hold is not None
    hold_id, key = created.hold.hold_id, new_key()
    capture = lambda s: holds.capture_hold(  # noqa: E731
        s, student_id=student, hold_id=hold_id, amount=5, idempotency_key=key
    )
    first = _orm(services, capture)
    assert first.hold is not None
    assert first.hold.status == "CAPTURED"
    # Retention (48 hours) deleted the key row; the USAGE entry still carries the key.
    db.execute(
        "DELETE FROM idempotency_keys WHERE student_id = %s AND operation = 'holds.capture'",
        (student,),
    )
    again = _orm(services, capture)
    assert (again.ok, again.replayed) == (True, True)
    assert again.hold is not None
    assert first.hold is not None
    assert (again.hold.transaction_id, again.hold.captured_amount) == (
        first.hold.transaction_id,
        5,
    )
    assert capture_entries(db, str(hold_id)) == [(5, "DEBIT")]
