"""The job worker comes back by itself after a real connection cut and a real restart.

Before the supervisor, one pg_terminate_backend of the app's connections stopped the worker
for good: later jobs stayed queued, nothing was logged and /health stayed 200.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from structlog.testing import capture_logs

from medgrader.config import Settings
from medgrader.core.context import AppContext
from medgrader.db.embedded import EmbeddedServer
from medgrader.jobs.worker import WorkerSupervisor, start_worker_task, stop_worker_task
from medgrader.runtime import open_context
from tests.conftest import FAULTS_DATABASE

# End-to-end: real faults on the fault server (one xdist group: they stop and restart it).
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("faults")]

# A harmless job every worker runs: the idempotency-key retention sweep.
PROBE_TASK = "idempotency:purge_idempotency_keys"


async def _eventually(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if await check():
                return
        except (psycopg.OperationalError, OSError):
            pass  # the database may still be coming back
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {within} s: {what}")


@pytest.fixture
async def running(fault_settings: Settings) -> AsyncIterator[tuple[AppContext, WorkerSupervisor]]:
    async with open_context(fault_settings) as ctx:
        supervisor = WorkerSupervisor(ctx, heartbeat_interval=0.5, min_backoff=0.1, max_backoff=1)
        task = start_worker_task(supervisor)
        try:
            await _eventually(
                lambda: asyncio.sleep(0, supervisor.last_beat is not None), 20, "first heartbeat"
            )
            yield ctx, supervisor
        finally:
            async with asyncio.timeout(60):  # a stop that hangs is a failure, not a hang
                await stop_worker_task(task)


async def _defer_probes(server: EmbeddedServer, count: int = 1) -> list[int]:
    """Enqueue probe jobs from a connection of the test's own (the app's may be dead)."""
    args = psycopg.types.json.Jsonb({"timestamp": int(time.time())})
    async with await psycopg.AsyncConnection.connect(
        server.libpq_url(FAULTS_DATABASE), autocommit=True
    ) as conn:
        cursor = await conn.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, args)"
            " SELECT 'default', %s, %s FROM generate_series(1, %s) RETURNING id",
            (PROBE_TASK, args, count),
        )
        return [int(row[0]) for row in await cursor.fetchall()]


async def _unfinished(
    server: EmbeddedServer, job_ids: list[int], supervisor: WorkerSupervisor
) -> int:
    """Jobs still waiting, or running on the current worker. A job whose worker lost its
    connection mid-job stays "doing" under that dead worker: procrastinate then counts it as
    stalled (receipts are retried by the stalled-job rescue); that is not a stopped worker."""
    worker = supervisor.current
    async with await psycopg.AsyncConnection.connect(
        server.libpq_url(FAULTS_DATABASE), autocommit=True
    ) as conn:
        cursor = await conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE id = ANY(%s)"
            " AND (status = 'todo' OR (status = 'doing' AND worker_id = %s))",
            (job_ids, worker.worker_id if worker else None),
        )
        row = await cursor.fetchone()
        return int(row[0]) if row else 0


async def _statuses(server: EmbeddedServer, job_ids: list[int]) -> dict[str, int]:
    async with await psycopg.AsyncConnection.connect(
        server.libpq_url(FAULTS_DATABASE), autocommit=True
    ) as conn:
        cursor = await conn.execute(
            "SELECT status::text, count(*) FROM procrastinate_jobs WHERE id = ANY(%s) GROUP BY 1",
            (job_ids,),
        )
        return {status: int(count) for status, count in await cursor.fetchall()}


async def _all_run(
    server: EmbeddedServer, job_ids: list[int], supervisor: WorkerSupervisor, within: float = 90
) -> None:
    async def done() -> bool:
        return await _unfinished(server, job_ids, supervisor) == 0

    try:
        await _eventually(done, within, f"{len(job_ids)} jobs run")
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}; {await _statuses(server, job_ids)}; restarts={supervisor.restarts}, last "
            f"error={supervisor.last_error!r}, beat {supervisor.seconds_since_beat():.0f} s ago"
        ) from None


def _terminate_app_connections(server: EmbeddedServer) -> int:
    with psycopg.connect(server.libpq_url("postgres"), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (FAULTS_DATABASE,),
        ).fetchall()
    return len(rows)


def _assert_each_stop_logged(logs: list[dict[str, Any]], supervisor: WorkerSupervisor) -> None:
    stops = [line for line in logs if line["event"] == "job worker stopped; restarting"]
    assert len(stops) == supervisor.restarts
    assert all(line["log_level"] == "error" and line["reason"] for line in stops)


async def _fresh_beat(supervisor: WorkerSupervisor) -> None:
    beaten_at = supervisor.last_beat
    await _eventually(
        lambda: asyncio.sleep(0, supervisor.last_beat != beaten_at), 15, "a fresh heartbeat"
    )
    assert supervisor.seconds_since_beat() < 5


async def test_worker_keeps_running_jobs_while_its_connections_are_cut(
    running: tuple[AppContext, WorkerSupervisor], fault_server: EmbeddedServer
) -> None:
    """Measured before: the worker either died (ConnectorException out of its shutdown) and
    left every later job queued, or stalled; the jobs must all run (a job whose own
    connection was cut under it fails like any job)."""
    _, supervisor = running
    with capture_logs() as logs:
        jobs = await _defer_probes(fault_server, 300)
        for _ in range(10):  # every connection, LISTEN and heartbeat included, mid-work
            _terminate_app_connections(fault_server)
            await asyncio.sleep(0.2)
        later = await _defer_probes(fault_server, 20)
        await _all_run(fault_server, jobs + later, supervisor)
        await _fresh_beat(supervisor)
    # Jobs queued after the cuts all ran: the worker is working, not merely alive.
    assert await _statuses(fault_server, later) == {"succeeded": 20}
    _assert_each_stop_logged(logs, supervisor)


async def test_worker_comes_back_after_a_database_restart(
    running: tuple[AppContext, WorkerSupervisor], fault_server: EmbeddedServer
) -> None:
    """Measured before: a real restart ended procrastinate's worker with a
    ConnectorException every time; the jobs queued then stayed queued for good."""
    _, supervisor = running
    restarts_before = supervisor.restarts
    with capture_logs() as logs:
        jobs = await _defer_probes(fault_server, 100)
        await asyncio.to_thread(fault_server.restart)
        later = await _defer_probes(fault_server, 20)
        await _all_run(fault_server, jobs + later, supervisor)
        await _fresh_beat(supervisor)
    assert await _statuses(fault_server, later) == {"succeeded": 20}
    assert supervisor.restarts > restarts_before
    assert supervisor.last_error
    stops = [line for line in logs if line["event"] == "job worker stopped; restarting"]
    assert len(stops) == supervisor.restarts - restarts_before


async def test_the_webhook_pool_serves_again_within_seconds_of_the_database_returning(
    fault_settings: Settings, fault_server: EmbeddedServer
) -> None:
    """Measured before: ~7 s after the database was back, because the pool's reconnection
    back-off had grown (1, 2, 4, 8 s...) while the database was down."""
    from medgrader.db.transactions import unit_of_work

    async with open_context(fault_settings) as ctx:
        async with unit_of_work(ctx.db_pool) as session:
            await session.scalar(text("SELECT 1"))
        await asyncio.to_thread(fault_server.halt)
        try:
            # Down for ~8 s while requests keep arriving, as webhooks would.
            down_until = time.monotonic() + 8
            while time.monotonic() < down_until:
                with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the pool raises
                    async with unit_of_work(ctx.db_pool) as session:
                        await session.scalar(text("SELECT 1"))
                await asyncio.sleep(0.5)
        finally:
            await asyncio.to_thread(fault_server.resume)
        back = time.monotonic()

        async def serves() -> bool:
            try:
                async with asyncio.timeout(1):
                    async with unit_of_work(ctx.db_pool) as session:
                        await session.scalar(text("SELECT 1"))
            except Exception:
                return False
            return True

        await _eventually(serves, 30, "the webhook pool serves")
        assert time.monotonic() - back < 2.5
