"""Two `medgrader serve` processes and one `medgrader worker` on one PostgreSQL that none of
them owns (`medgrader db start`): purchases through both APIs, every paid event delivered to
both (the emulator has both as endpoints) and again by us, duplicated and shuffled, with
success-page status checks racing them, one API killed mid-run. Exactly once, audit clean.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from medgrader.core.tokens import TokenConfig, issue_access_token
from medgrader.jobs.queues import RECEIPT_TASK
from stripe_emulator.testing import EmulatorServer, start_emulator
from tests.checkout.support import make_event, sign, wait_until
from tests.ops.processes import Process, medgrader, wait_for_status
from tests.support.live_server import free_port
from tests.support.mailbox import Mailbox

# End-to-end: several API and worker processes.
pytestmark = pytest.mark.e2e

STUDENTS = 30
PURCHASES = (
    80  # enough to interleave everything (30 students, both APIs, the kill), bounded in time
)
CREDITS, PENCE = 100, 1000
JWT = "multi-process-jwt-secret-" + "x" * 40
WEBHOOK_SECRET = "whsec_multi_process_0123456789abcdef"
WEBHOOK = "/api/webhooks/stripe"


@pytest.fixture
def shared_database(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    data = {"DATA_DIR": str(tmp_path / "data")}
    started = medgrader(["db", "start"], data)
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip().splitlines()[-1]
    status = medgrader(["db", "status"], data)
    assert status.returncode == 0
    assert url in status.stdout
    assert medgrader(["db", "url"], data).stdout.strip() == url
    try:
        yield url, data
    finally:
        stopped = medgrader(["db", "stop"], data)
        assert stopped.returncode == 0, stopped.stderr
        assert medgrader(["db", "status"], data).returncode == 1


def _seed(url: str) -> tuple[list[str], str]:
    students = [str(uuid.uuid4()) for _ in range(STUDENTS)]
    package = str(uuid.uuid4())
    with psycopg.connect(url, autocommit=True) as conn:
        for student in students:
            conn.execute(
                "INSERT INTO users (id, email, password_hash, role, email_verified_at)"
                " VALUES (%s, %s, 'x', 'student', now())",
                (student, f"multi-{student}@example.com"),
            )
            conn.execute(
                "INSERT INTO student_profiles (user_id, first_name, last_name)"
                " VALUES (%s, 'Multi', 'Process')",
                (student,),
            )
        conn.execute(
            "INSERT INTO credit_packages (id, name, credits, price_pence, currency)"
            " VALUES (%s, 'Starter Pack', %s, %s, 'GBP')",
            (package, CREDITS, PENCE),
        )
    return students, package


def _post(bases: list[str], path: str, **kwargs: Any) -> httpx.Response:
    """To the first API that answers (a load balancer skips a dead backend)."""
    for base in bases:
        try:
            return httpx.request(url=f"{base}{path}", timeout=30, **kwargs)
        except httpx.TransportError:
            continue
    raise AssertionError(f"no API answered {path}")


def test_two_apis_and_a_worker_on_one_database_fulfil_each_purchase_once(
    shared_database: tuple[str, dict[str, str]], mailbox: Mailbox, tmp_path: Path
) -> None:
    url, data = shared_database
    students, package = _seed(url)
    emulator: EmulatorServer = start_emulator(retry_base_delay=0.2, max_attempts=4)
    ports = [free_port(), free_port()]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    env = {
        **data,
        "ENVIRONMENT": "production",
        "DATABASE_URL": url,
        "JWT_SECRET": JWT,
        "STRIPE_SECRET_KEY": "sk_test_multi_process",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": emulator.url,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(mailbox.port),
        "RUN_WORKER_IN_PROCESS": "false",
        "DB_POOL_SIZE": "3",
        "DB_MAX_OVERFLOW": "3",
    }
    serve = ["serve", "--host", "127.0.0.1", "--no-access-log", "--port"]
    apis = [Process(f"api-{i}", [*serve, str(port)], env, tmp_path) for i, port in enumerate(ports)]
    worker = Process("worker", ["worker", "--concurrency", "8"], env, tmp_path)
    try:
        for base, api in zip(bases, apis, strict=True):
            # Ready means the database, the webhook pool and a job worker (the separate one,
            # by its heartbeat) are all well.
            wait_for_status(f"{base}/health", 200, api)
            emulator.add_endpoint(f"{base}{WEBHOOK}", secret=WEBHOOK_SECRET)
        _run_purchases(bases, apis, students, package, emulator, url)
        assert apis[1].popen.poll() is None, apis[1].log()
        health = httpx.get(f"{bases[1]}/health", timeout=10)
        assert health.status_code == 200, health.text
    finally:
        emulator.stop()
        codes = {p.name: p.stop() for p in [*apis, worker]}
    assert codes["worker"] == 0, worker.log()  # SIGTERM: a clean stop, status 0
    assert "Traceback" not in worker.log()
    audit = medgrader(["audit"], {**env})
    assert audit.returncode == 0, audit.stdout + audit.stderr


def _run_purchases(
    bases: list[str], apis: list[Process], students: list[str], package: str,
    emulator: EmulatorServer, url: str,
) -> None:  # fmt: skip
    rng = random.Random(11)
    config = TokenConfig(JWT, "medgrader", "medgrader-api", 3600)
    tokens = {s: issue_access_token(config, uuid.UUID(s), 0) for s in students}  # version 0: new
    buyers = [students[i % len(students)] for i in range(PURCHASES)]

    def checkout(i: int) -> tuple[str, str]:
        response = httpx.post(
            f"{bases[i % 2]}/api/payments/credit-checkout",
            json={"packageId": package},
            headers={"Authorization": f"Bearer {tokens[buyers[i]]}"},
            timeout=30,
        )
        assert response.status_code == 201, response.text
        return buyers[i], response.json()["sessionId"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        sessions = list(pool.map(checkout, range(PURCHASES)))

    # Paying makes the emulator deliver each completed event to both APIs. We send it again
    # (+ duplicates), and ask for each session's status as the success page does, shuffled.
    calls: list[tuple[str, Any]] = []
    for student, session_id in sessions:
        emulator.control.pay(session_id)
        paid = emulator.emulator.store.snapshot(emulator.emulator.store.sessions[session_id])
        event = make_event("checkout.session.completed", paid)
        calls += [("event", event)] * rng.choice((1, 1, 2))
        calls.append(("status", (student, session_id)))
    rng.shuffle(calls)

    def fire(index_call: tuple[int, tuple[str, Any]]) -> int:
        index, (kind, payload) = index_call
        order = bases if index % 2 == 0 else list(reversed(bases))
        if kind == "event":
            body = httpx.Request("POST", "/", json=payload).content
            response = _post(
                order, WEBHOOK, method="POST", content=body,
                headers={"Stripe-Signature": sign(body, WEBHOOK_SECRET),
                         "Content-Type": "application/json"},
            )  # fmt: skip
        else:
            student, session_id = payload
            response = _post(
                order, f"/api/payments/checkout-status/{session_id}", method="GET",
                headers={"Authorization": f"Bearer {tokens[student]}"},
            )  # fmt: skip
        return response.status_code

    half = len(calls) // 2
    with ThreadPoolExecutor(max_workers=12) as pool:
        first = list(pool.map(fire, enumerate(calls[:half])))
        apis[0].kill()  # mid-run, no warning, whatever it was doing
        second = list(pool.map(fire, enumerate(calls[half:], start=half)))
    # A request cut by the kill is answered by the other API; every answer is a success
    # (Stripe would retry a 500 anyway, but none is expected here).
    assert set(first) | set(second) <= {200}, sorted(set(first) | set(second))

    session_ids = [session_id for _, session_id in sessions]
    with psycopg.connect(url, autocommit=True) as db:
        wait_until(
            lambda: (
                db.execute(
                    "SELECT count(*) FROM checkout_sessions WHERE status = 'COMPLETED'"
                    " AND stripe_session_id = ANY(%s)",
                    (session_ids,),
                ).fetchone()[0]  # type: ignore[index]
                == PURCHASES
            ),
            timeout=60,
            what="every session completed",
        )
        _assert_exactly_once(db, session_ids, buyers)


def _assert_exactly_once(db: psycopg.Connection, session_ids: list[str], buyers: list[str]) -> None:
    entries = dict(
        db.execute(
            "SELECT source_id, count(*) FROM credit_transactions"
            " WHERE source_type = 'PURCHASE' AND source_id = ANY(%s) GROUP BY source_id",
            (session_ids,),
        ).fetchall()
    )
    assert len(entries) == len(session_ids)
    assert set(entries.values()) == {1}
    payments = db.execute(
        "SELECT p.id, count(*) OVER (PARTITION BY p.checkout_session_id)"
        " FROM payments p JOIN checkout_sessions c ON c.id = p.checkout_session_id"
        " WHERE c.stripe_session_id = ANY(%s)",
        (session_ids,),
    ).fetchall()
    assert len(payments) == len(session_ids)
    assert {count for _, count in payments} == {1}
    # One receipt job per payment, and the separate worker sends them all.
    payment_ids = [str(pid) for pid, _ in payments]

    def receipt_jobs() -> list[tuple[str, str]]:
        return db.execute(
            "SELECT args->>'payment_id', status::text FROM procrastinate_jobs"
            " WHERE task_name = %s AND args->>'payment_id' = ANY(%s)",
            (RECEIPT_TASK, payment_ids),
        ).fetchall()

    wait_until(
        lambda: {status for _, status in receipt_jobs()} == {"succeeded"},
        timeout=90,
        what="every receipt sent",
    )
    jobs = receipt_jobs()
    assert sorted(pid for pid, _ in jobs) == sorted(payment_ids)
    # Each student's balance: exactly 100 credits per purchase, and equal to the ledger sum.
    expected = {s: buyers.count(s) * CREDITS for s in set(buyers)}
    rows = db.execute(
        "SELECT p.user_id::text, p.credit_balance,"
        " coalesce(sum(CASE WHEN e.entry_type = 'CREDIT' THEN e.amount ELSE -e.amount END), 0)"
        " FROM student_profiles p LEFT JOIN credit_transactions e ON e.student_id = p.user_id"
        " WHERE p.user_id = ANY(%s::uuid[]) GROUP BY p.user_id, p.credit_balance",
        (list(expected),),
    ).fetchall()
    assert {user: balance for user, balance, _ in rows} == expected
    assert all(balance == total for _, balance, total in rows)
