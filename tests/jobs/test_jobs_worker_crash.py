"""The API's own job worker comes back after every PostgreSQL crash, under load, and a SIGTERM
still stops the API promptly.

A real `medgrader serve` (worker in-process) on the fault tests' server, in a database of this
test's own. Receipt and refund-notice jobs (for real payments and refund entries) are deferred
all along from another connection; PostgreSQL is killed (`pg_ctl -m immediate`, as a crash)
and started again, several times. On the previous supervisor this test failed in 3 of 6 runs,
each time at a crash after which the worker never came back: procrastinate's worker had
stopped, and the supervisor's restart came only with the SIGTERM (whose cancellation it then
swallowed, starting a new worker during shutdown). `CRASH_CYCLES=12` crashes more often.
"""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from medgrader.config import Environment, Settings
from medgrader.db.embedded import EmbeddedServer, drop_database, ensure_database
from medgrader.db.migrate import upgrade_to_head
from medgrader.jobs.queues import RECEIPT_TASK, RECEIPTS_QUEUE, RETURNS_NOTICE_TASK
from medgrader.notifications.tasks import retry_stalled_receipts
from medgrader.runtime import open_context
from tests.ops.processes import Process
from tests.support.live_server import free_port
from tests.support.mailbox import Mailbox

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("faults")]

DATABASE = "medgrader_worker_crash"
CYCLES = int(os.environ.get("CRASH_CYCLES", "3"))
# Payments per cycle: one receipt job (a VAT receipt and its PDF) and one refund-notice job each.
PER_CYCLE = 40
DOWN_SECONDS = 3.0
WORKER_DEAD_AFTER = 20  # /health's limit for this API: a worker that stays away shows as 503
# From PostgreSQL accepting connections again to the worker having run every job deferred so
# far: the stopping worker's wait for its jobs in hand, the restart's back-off, the queue.
BACK_WITHIN = 30.0
DRAINED_WITHIN = 60.0
STOPPED_WITHIN = 8.0  # SIGTERM to exit; the jobs in hand are short
# The enqueuer's connection and the API's pools reach PostgreSQL on its Unix socket.
DOMAIN = "crash.example.com"
_DEFER = """
SELECT unnest(procrastinate_defer_jobs_v1(array_agg(
         ROW(%s, j.task, 0, NULL, NULL, j.args, NULL)::procrastinate_job_to_defer_v1)))
  FROM unnest(%s::text[], %s::jsonb[]) AS j(task, args)
"""


@pytest.fixture
def crash_database(fault_server: EmbeddedServer) -> Iterator[str]:
    admin_url = fault_server.libpq_url("postgres")
    drop_database(admin_url, DATABASE)
    ensure_database(admin_url, DATABASE)
    upgrade_to_head(fault_server.sqlalchemy_url(DATABASE))
    try:
        yield fault_server.libpq_url(DATABASE)
    finally:
        _ensure_running(fault_server)
        drop_database(admin_url, DATABASE)


def _ensure_running(server: EmbeddedServer) -> None:
    try:
        psycopg.connect(server.libpq_url("postgres"), connect_timeout=2).close()
    except psycopg.OperationalError:
        server.resume()


def _seed(url: str, count: int) -> list[tuple[str, str]]:
    """`count` students, each with a paid purchase and a partial refund's clawback entry
    (ledger consistent: 100 credits bought, 10 taken back); their (payment, entry) ids."""
    package = uuid.uuid4()
    rows = [(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()) for _ in range(count)]
    students, sessions, payments, entries = (list(column) for column in zip(*rows, strict=True))
    with psycopg.connect(url, autocommit=True) as db, db.transaction():
        db.execute(
            "INSERT INTO credit_packages (id, name, credits, price_pence, currency)"
            " VALUES (%s, 'Crash Pack', 100, 1000, 'GBP')",
            (package,),
        )
        db.execute(
            """
            WITH u AS (
                INSERT INTO users (id, email, password_hash, role, email_verified_at)
                SELECT id, 'student-' || id || %s, 'x', 'student', now()
                  FROM unnest(%s::uuid[]) AS id
                RETURNING id
            )
            INSERT INTO student_profiles (user_id, first_name, last_name, credit_balance)
            SELECT id, 'Crash', 'Test', 90 FROM u
            """,
            (f"@{DOMAIN}", students),
        )
        db.execute(
            """
            WITH s AS (
                INSERT INTO checkout_sessions (id, stripe_session_id, student_id, package_id,
                    package_name, credits, amount_pence, currency, status, expires_at,
                    completed_at)
                SELECT r.session, 'cs_crash_' || r.session, r.student, %s, 'Crash Pack', 100,
                       1000, 'GBP', 'COMPLETED', now() + interval '1 day', now()
                  FROM unnest(%s::uuid[], %s::uuid[]) AS r(session, student)
                RETURNING id, stripe_session_id, student_id
            )
            INSERT INTO payments (id, student_id, checkout_session_id, stripe_checkout_session_id,
                                  status, amount_pence, amount_refunded_pence, currency, credits,
                                  package_name, paid_at)
            SELECT r.payment, s.student_id, s.id, s.stripe_session_id, 'PARTIALLY_REFUNDED',
                   1000, 100, 'GBP', 100, 'Crash Pack', now()
              FROM s JOIN unnest(%s::uuid[], %s::uuid[]) AS r(session, payment) ON r.session = s.id
            """,
            (package, sessions, students, sessions, payments),
        )
        db.execute(
            """
            INSERT INTO credit_transactions (student_id, entry_type, amount, balance_after,
                                             source_type, source_id, description)
            SELECT student_id, 'CREDIT', 100, 100, 'PURCHASE', stripe_checkout_session_id,
                   'Purchased Crash Pack'
              FROM payments WHERE id = ANY(%s)
            """,
            (payments,),
        )
        db.execute(
            """
            INSERT INTO credit_transactions (id, student_id, entry_type, amount, balance_after,
                                             source_type, source_id, description, metadata)
            SELECT r.entry, p.student_id, 'DEBIT', 10, 90, 'REFUND', p.id::text,
                   'Refund of Crash Pack',
                   jsonb_build_object('paymentId', p.id, 'returnedPenceBefore', 0,
                                      'returnedPenceAfter', 100)
              FROM unnest(%s::uuid[], %s::uuid[]) AS r(payment, entry)
              JOIN payments p ON p.id = r.payment
            """,
            (payments, entries),
        )
    return [(str(p), str(e)) for p, e in zip(payments, entries, strict=True)]


class Enqueuer:
    """Defers jobs as the product does (procrastinate_defer_jobs_v1), a few at a time, from a
    connection of its own; while PostgreSQL is down it keeps trying."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.job_ids: list[int] = []
        self._waiting: collections.deque[tuple[str, dict[str, str]]] = collections.deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="enqueuer", daemon=True)

    def start(self) -> Enqueuer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def add(self, jobs: list[tuple[str, dict[str, str]]]) -> None:
        with self._lock:
            self._waiting.extend(jobs)

    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)

    def _run(self) -> None:
        connection: psycopg.Connection | None = None
        while not self._stop.is_set():
            with self._lock:
                batch = [self._waiting.popleft() for _ in range(min(4, len(self._waiting)))]
            if not batch:
                time.sleep(0.02)
                continue
            try:
                if connection is None or connection.closed:
                    connection = psycopg.connect(self.url, autocommit=True, connect_timeout=2)
                rows = connection.execute(
                    _DEFER,
                    (RECEIPTS_QUEUE, [task for task, _ in batch], [Jsonb(a) for _, a in batch]),
                ).fetchall()
            except psycopg.OperationalError:
                connection = None
                with self._lock:
                    self._waiting.extendleft(reversed(batch))
                time.sleep(0.1)
                continue
            self.job_ids += [int(row[0]) for row in rows]
            time.sleep(0.02)
        if connection is not None:
            connection.close()


def _health(base: str) -> tuple[int, dict[str, Any]]:
    response = httpx.get(f"{base}/health", timeout=5)
    return response.status_code, response.json()


def _until(check: Callable[[], bool], within: float, what: str, api: Process) -> float:
    """Seconds until `check` held; fails after `within`."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        assert api.popen.poll() is None, f"the API exited:\n{api.log()[-5000:]}"
        try:
            if check():
                return time.monotonic() - started
        except (httpx.HTTPError, psycopg.OperationalError):
            pass
        time.sleep(0.25)
    raise AssertionError(f"not within {within:g} s: {what}\n--- API log tail ---\n"
                         f"{api.log()[-4000:]}")  # fmt: skip


def _unfinished(url: str, job_ids: list[int]) -> int:
    """Jobs waiting, or running under a worker that is alive. A job whose worker died with the
    database stays 'doing' under that dead worker (the stalled-job rescue takes it later)."""
    with psycopg.connect(url, autocommit=True, connect_timeout=2) as db:
        row = db.execute(
            """
            SELECT count(*) FROM procrastinate_jobs j
             WHERE j.id = ANY(%s) AND (j.status = 'todo' OR (j.status = 'doing' AND EXISTS (
                   SELECT 1 FROM procrastinate_workers w WHERE w.id = j.worker_id
                      AND w.last_heartbeat > now() - interval '15 seconds')))
            """,
            (job_ids,),
        ).fetchone()
    return int(row[0]) if row else -1


def _fresh_heartbeat(url: str) -> bool:
    with psycopg.connect(url, autocommit=True, connect_timeout=2) as db:
        row = db.execute(
            "SELECT count(*) FROM procrastinate_workers"
            " WHERE last_heartbeat > now() - interval '11 seconds'"
        ).fetchone()
    return bool(row and row[0])


def _statuses(url: str, job_ids: list[int]) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as db:
        rows = db.execute(
            "SELECT status::text, count(*) FROM procrastinate_jobs WHERE id = ANY(%s) GROUP BY 1",
            (job_ids,),
        ).fetchall()
    return {status: int(count) for status, count in rows}


def _rescue_stalled(url: str) -> list[int]:
    """The product's own rescue of email jobs cut mid-run (a periodic job every 5 minutes)."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment=Environment.TEST,
        database_url=url,
        jwt_secret="crash-test-jwt-secret-" + "x" * 40,
        stripe_secret_key="sk_test_crash",
        stripe_webhook_secret="whsec_crash_0123456789abcdef",
    )

    async def rescue() -> list[int]:
        async with open_context(settings) as ctx:
            return await retry_stalled_receipts(ctx, seconds_since_heartbeat=15)

    return asyncio.run(rescue())


def test_the_in_process_worker_comes_back_after_every_crash_and_stops_on_sigterm(
    crash_database: str, fault_server: EmbeddedServer, mailbox: Mailbox, tmp_path: Path
) -> None:
    url = crash_database
    work = _seed(url, CYCLES * PER_CYCLE)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "ENVIRONMENT": "production",
        "DATABASE_URL": url,
        "JWT_SECRET": "crash-test-jwt-secret-" + "x" * 40,
        "STRIPE_SECRET_KEY": "sk_test_crash",
        "STRIPE_WEBHOOK_SECRET": "whsec_crash_0123456789abcdef",
        "STRIPE_API_BASE": f"http://127.0.0.1:{free_port()}",  # nothing here calls Stripe
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(mailbox.port),
        "RUN_WORKER_IN_PROCESS": "true",
        "WORKER_DEAD_AFTER_SECONDS": str(WORKER_DEAD_AFTER),
        "RECEIPT_RETRY_BASE_SECONDS": "0.2",
        "RECEIPT_RETRY_MAX_SECONDS": "1",
    }
    serve = ["serve", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    api = Process("api", serve, env, tmp_path)
    enqueuer = Enqueuer(url).start()
    comebacks: list[float] = []
    try:
        _until(lambda: _health(base)[0] == 200, 60, "/health 200 at start", api)
        for cycle in range(CYCLES):
            batch = work[cycle * PER_CYCLE : (cycle + 1) * PER_CYCLE]
            enqueuer.add([(RECEIPT_TASK, {"payment_id": p}) for p, _ in batch])
            enqueuer.add([(RETURNS_NOTICE_TASK, {"transaction_id": e}) for _, e in batch])
            # Crash with the worker busy: a third of the cycle's jobs deferred, the rest to come.
            _until(lambda: enqueuer.waiting() < PER_CYCLE * 4 // 3, 30, "deferring", api)
            fault_server.halt(mode="immediate")
            try:
                # Really down: the API says so (503, the database), and keeps answering.
                _until(lambda: _health(base)[0] == 503, 10, "/health 503 while down", api)
                status, body = _health(base)
                assert (status, body["code"]) == (503, "db_unavailable"), body
                time.sleep(DOWN_SECONDS)
            finally:
                fault_server.resume()
            back = time.monotonic()

            def worker_back() -> bool:
                # Every job deferred so far has run (those deferred since the restart too), the
                # database sees a worker's heartbeat, and /health says so.
                return (
                    enqueuer.waiting() == 0
                    and _unfinished(url, enqueuer.job_ids) == 0
                    and _fresh_heartbeat(url)
                    and _health(base)[0] == 200
                )

            comebacks.append(_until(worker_back, BACK_WITHIN, f"worker back (cycle {cycle})", api))
        assert len(enqueuer.job_ids) >= 2 * CYCLES * PER_CYCLE
        # Jobs cut mid-run by a crash: the rescue puts them back once their worker is
        # certainly dead (15 s without a heartbeat), and the worker runs them too.
        time.sleep(max(0.0, 16 - (time.monotonic() - back)))
        _rescue_stalled(url)
        _until(
            lambda: _statuses(url, enqueuer.job_ids) == {"succeeded": len(enqueuer.job_ids)},
            DRAINED_WITHIN,
            f"every job succeeded after the rescue ({_statuses(url, enqueuer.job_ids)})",
            api,
        )
        _assert_every_email_recorded(url, work, mailbox)
        # Each crash really ended the worker (the test is not passing by its surviving them).
        assert _health(base)[1]["checks"]["jobWorker"]["restarts"] >= CYCLES

        stopping = time.monotonic()
        api.popen.send_signal(signal.SIGTERM)
        api.popen.wait(STOPPED_WITHIN)
        stopped_in = time.monotonic() - stopping
    finally:
        enqueuer.stop()
        api.stop()
        _ensure_running(fault_server)
    log = api.log()
    assert "job worker stopped; restarting" in log
    assert stopped_in < STOPPED_WITHIN, log[-3000:]
    print(f"worker back after each restart in {[round(s, 1) for s in comebacks]} s; "
          f"stopped {stopped_in:.1f} s after SIGTERM")  # fmt: skip


def _assert_every_email_recorded(url: str, work: list[tuple[str, str]], mailbox: Mailbox) -> None:
    payments = [p for p, _ in work]
    keys = [f"returns:{e}" for _, e in work]
    with psycopg.connect(url, autocommit=True) as db:
        receipts = db.execute(
            "SELECT count(*) FROM payments WHERE id = ANY(%s) AND receipt_sent_at IS NOT NULL",
            (payments,),
        ).fetchone()
        notices = db.execute(
            "SELECT count(*) FROM sent_notices WHERE key = ANY(%s)", (keys,)
        ).fetchone()
    assert receipts == (len(payments),)
    assert notices == (len(keys),)
    # At least one email per receipt and per notice reached the SMTP server (at-least-once).
    assert len(mailbox.messages(to=f"@{DOMAIN}")) >= 2 * len(work)
