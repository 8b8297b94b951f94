"""spend_credits() for in-process callers (voice billing), and idempotency-key retention."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import httpx
import psycopg
import pytest

from medgrader.core.errors import BadRequest, Unprocessable
from medgrader.core.statuses import status_of
from medgrader.credits.errors import InsufficientCredits
from medgrader.credits.service import Spent, spend_credits
from medgrader.idempotency.errors import IdempotencyKeyReused
from medgrader.idempotency.tasks import purge_idempotency_keys, purge_idempotency_keys_task
from medgrader.ledger.service import StudentNotFound
from tests.credits.factory import entry_count, key_count, new_key, spend_headers
from tests.support.accounts import Account
from tests.support.invariants import ledger_balance
from tests.support.services import ServiceRunner

pytestmark = pytest.mark.usefixtures("invariants")
NewStudent = Callable[..., Account]


def _spend(services: ServiceRunner, student_id: Any, amount: Any, reason: Any, key: Any) -> Any:
    return services.in_transaction(
        lambda session, _: spend_credits(
            session, student_id=student_id, amount=amount, reason=reason, idempotency_key=key
        )
    )


def test_in_process_spend_replay_mismatch_and_refusal(
    services: ServiceRunner, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=10)
    sid = uuid.UUID(student.id)
    key = new_key()

    first: Spent = _spend(services, sid, 7, "voice: 7 minutes", key)
    assert not first.replayed
    assert first.balance_after == 3
    assert first.body() == {"transactionId": str(first.transaction_id), "balanceAfter": 3}

    again = _spend(services, sid, 7, "voice: 7 minutes", key)
    assert again.replayed
    assert again.transaction_id == first.transaction_id
    assert again.body() == first.body()

    with pytest.raises(IdempotencyKeyReused):
        _spend(services, sid, 8, "voice: 7 minutes", key)

    refused_key = new_key()
    with pytest.raises(InsufficientCredits) as refused:
        _spend(services, sid, 4, "voice: 4 minutes", refused_key)
    assert not refused.value.replayed
    assert (refused.value.code, status_of(refused.value)) == ("insufficient_credits", 402)
    # The refusal is stored under the key (its unit of work committed it) and replayed.
    with pytest.raises(InsufficientCredits) as replayed:
        _spend(services, sid, 4, "voice: 4 minutes", refused_key)
    assert replayed.value.replayed
    assert replayed.value.body() == refused.value.body()

    assert entry_count(db, student.id, "USAGE") == 1
    assert ledger_balance(db, student.id) == (3, 3)


@pytest.mark.parametrize(
    ("amount", "reason", "key", "error"),
    [
        (0, "r", "key-12345", Unprocessable),
        (True, "r", "key-12345", Unprocessable),
        (1.0, "r", "key-12345", Unprocessable),
        (2**63, "r", "key-12345", Unprocessable),
        (1, "", "key-12345", Unprocessable),
        (1, "x" * 201, "key-12345", Unprocessable),
        (1, "voice\x00", "key-12345", Unprocessable),
        (1, "r", "key-12345\x00", BadRequest),
        (1, "r", "short", BadRequest),
        (1, "r", None, BadRequest),
    ],
)
def test_in_process_bad_input_raises_before_writing(
    services: ServiceRunner,
    db: psycopg.Connection,
    new_student: NewStudent,
    amount: Any,
    reason: Any,
    key: Any,
    error: type[Exception],
) -> None:
    student = new_student(balance=10)
    with pytest.raises(error):
        _spend(services, uuid.UUID(student.id), amount, reason, key)
    assert key_count(db, student.id) == 0
    assert ledger_balance(db, student.id) == (10, 10)


def test_in_process_unknown_student(services: ServiceRunner) -> None:
    with pytest.raises(StudentNotFound):
        _spend(services, uuid.uuid4(), 1, "r", new_key())


def test_a_rolled_back_refusal_leaves_the_key_unused(
    services: ServiceRunner, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=2)
    sid, key = uuid.UUID(student.id), new_key()

    class Rollback(Exception):
        pass

    async def refuse_then_roll_back(session: Any, _: Any) -> None:
        with pytest.raises(InsufficientCredits):
            await spend_credits(session, student_id=sid, amount=5, reason="r", idempotency_key=key)
        raise Rollback

    with pytest.raises(Rollback):
        services.in_transaction(refuse_then_roll_back)
    assert key_count(db, student.id) == 0
    assert not _spend(services, sid, 2, "r", key).replayed


def test_retention_purges_keys_older_than_48_hours_and_old_keys_never_charge_twice(
    client: httpx.Client, services: ServiceRunner, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=20)
    old_spent, old_refused, fresh = new_key(), new_key(), new_key()
    body = {"amount": 5, "reason": "quiz"}
    for key, amount in ((old_spent, 5), (old_refused, 50), (fresh, 5)):
        client.post(
            "/api/credits/spend",
            json=body | {"amount": amount},
            headers=spend_headers(student, key),
        )
    db.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '49 hours' "
        "WHERE student_id = %s AND key = ANY(%s)",
        (student.id, [old_spent, old_refused]),
    )
    db.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '47 hours' "
        "WHERE student_id = %s AND key = %s",
        (student.id, fresh),
    )

    assert services.run(purge_idempotency_keys) >= 2
    remaining = {
        r[0]
        for r in db.execute("SELECT key FROM idempotency_keys WHERE student_id = %s", (student.id,))
    }
    assert remaining == {fresh}

    # The purged key that spent is still bound to its ledger entry: the same request replays,
    # a different one is refused, and neither charges again.
    replay = client.post("/api/credits/spend", json=body, headers=spend_headers(student, old_spent))
    assert replay.status_code == 201
    assert replay.json()["balanceAfter"] == 15
    changed = client.post(
        "/api/credits/spend", json=body | {"amount": 6}, headers=spend_headers(student, old_spent)
    )
    assert changed.status_code == 409
    # The purged refusal left no entry, so its key is free again and now evaluated afresh.
    again = client.post(
        "/api/credits/spend",
        json=body | {"amount": 10},
        headers=spend_headers(student, old_refused),
    )
    assert again.status_code == 201
    assert entry_count(db, student.id, "USAGE") == 3
    assert ledger_balance(db, student.id) == (0, 0)


def test_the_purge_is_scheduled_hourly_on_the_job_app(services: ServiceRunner) -> None:
    periodic = {
        (p.task.name, p.cron) for p in services.ctx.jobs.periodic_registry.periodic_tasks.values()
    }
    assert ("idempotency:purge_idempotency_keys", "7 * * * *") in periodic
    assert "idempotency:purge_idempotency_keys" in services.ctx.jobs.tasks


def test_the_task_body_purges_through_the_worker_context(
    services: ServiceRunner, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=0)
    db.execute(
        "INSERT INTO idempotency_keys (student_id, key, operation, request_hash, created_at) "
        "VALUES (%s, 'ancient-key', 'credits.spend', 'x', now() - interval '3 days')",
        (student.id,),
    )
    job_context = SimpleNamespace(additional_context={"app_context": services.ctx})
    services.run(lambda _: purge_idempotency_keys_task.func(job_context, timestamp=0))
    assert key_count(db, student.id) == 0
