"""WorkerSupervisor's own rules, with fake workers (the real crash is tests/jobs/
test_jobs_worker_crash.py): a worker that stalls is replaced, and a shutdown ends the
supervisor within bounds and stays a cancellation, even when the worker, or a heartbeat check,
ignores being cancelled (on Python 3.11 a task waiting for a pooled connection can lose its
cancellation: see medgrader.jobs.worker)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from structlog.testing import capture_logs

from medgrader.jobs import worker as worker_module
from medgrader.jobs.worker import WorkerSupervisor, start_worker_task, stop_worker_task

BEAT = 0.05  # the fakes' heartbeat interval: every wait in these tests is a few of them


class FakeWorker:
    """Registers at once; beats (as the database would show) while `beating`; ends when
    stopped unless `ignores_stop`; swallows cancellations until `released` is set."""

    def __init__(
        self, number: int, *, beating: bool, ignores_stop: bool = False, swallows: bool = False
    ) -> None:
        self.worker_id = number
        self.beating = beating
        self.ignores_stop = ignores_stop
        self.swallows = swallows
        self.released = asyncio.Event()
        self._stopped = asyncio.Event()
        self.cancellations = 0

    def stop(self) -> None:
        if not self.ignores_stop:
            self._stopped.set()

    async def run(self) -> None:
        while not self._stopped.is_set() and not self.released.is_set():
            try:
                await asyncio.sleep(BEAT / 5)
            except asyncio.CancelledError:
                self.cancellations += 1
                if not self.swallows:
                    raise


class FakeConnector:
    """The heartbeat query: a fresh age for a beating worker, none for a silent one; or, when
    `hangs`, no answer at all and the first cancellation swallowed."""

    def __init__(self, supervisor: Supervised) -> None:
        self.supervisor = supervisor
        self.hangs = False
        self.release = asyncio.Event()

    async def execute_query_all_async(self, query: str, worker_id: int) -> list[dict[str, Any]]:
        if self.hangs:
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                await self.release.wait()  # as a task that lost its cancellation would
        worker = self.supervisor.workers[worker_id - 1]
        return [{"age": 0.0}] if worker.beating else [{"age": 3600.0}]


class Supervised(WorkerSupervisor):
    def __init__(self, plan: list[FakeWorker]) -> None:
        self.plan = plan
        self.workers: list[FakeWorker] = []
        self.connector = FakeConnector(self)
        ctx = SimpleNamespace(
            jobs=SimpleNamespace(connector=self.connector),
            job_pool=SimpleNamespace(drain=lambda: asyncio.sleep(0)),
        )
        super().__init__(
            ctx,  # type: ignore[arg-type]
            heartbeat_interval=BEAT,
            min_backoff=0.01,
            max_backoff=0.02,
            stall_after=0,  # raised to three heartbeat intervals
            shutdown_grace=BEAT,
        )

    def _new_worker(self) -> Any:
        worker = self.plan.pop(0) if self.plan else FakeWorker(0, beating=True)
        worker.worker_id = len(self.workers) + 1
        self.workers.append(worker)
        return worker


@pytest.fixture(autouse=True)
def short_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_module, "STOP_MARGIN_SECONDS", BEAT)
    monkeypatch.setattr(worker_module, "CANCEL_WAIT_SECONDS", BEAT)
    monkeypatch.setattr(worker_module, "CHECK_TIMEOUT_SECONDS", BEAT)


async def _until(check: Any, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(BEAT / 5)


@pytest.fixture
async def released() -> AsyncIterator[list[FakeWorker]]:
    """Fakes that swallow cancellations are let go at the end (no task outlives the test)."""
    fakes: list[FakeWorker] = []
    yield fakes
    for fake in fakes:
        fake.released.set()
    await asyncio.sleep(BEAT)


async def test_a_worker_whose_heartbeat_stops_is_stopped_and_replaced() -> None:
    stuck = FakeWorker(0, beating=False, ignores_stop=True)  # ends only when cancelled
    supervisor = Supervised([stuck])
    task = start_worker_task(supervisor)
    with capture_logs() as logs:
        await _until(lambda: supervisor.restarts == 1 and supervisor.last_beat is not None)
        await stop_worker_task(task)
    assert stuck.cancellations >= 1
    assert str(supervisor.last_error).startswith("stalled")
    assert [line["event"] for line in logs][:2] == [
        "job worker stalled; stopping it",
        "job worker stopped; restarting",
    ]
    assert task.cancelled()


async def test_a_worker_that_ends_is_restarted_with_the_reason_logged() -> None:
    supervisor = Supervised([FakeWorker(0, beating=True)])
    task = start_worker_task(supervisor)
    await _until(lambda: supervisor.last_beat is not None)
    supervisor.workers[0].stop()  # as procrastinate does when a side task fails
    await _until(lambda: len(supervisor.workers) == 2)
    assert supervisor.last_error == "the worker stopped by itself (a side task failed)"
    await stop_worker_task(task)
    assert task.cancelled()


async def test_shutdown_ends_even_when_the_worker_swallows_every_cancellation(
    released: list[FakeWorker],
) -> None:
    deaf = FakeWorker(0, beating=True, ignores_stop=True, swallows=True)
    released.append(deaf)
    supervisor = Supervised([deaf])
    task = start_worker_task(supervisor)
    await _until(lambda: supervisor.last_beat is not None)
    started = time.monotonic()
    with capture_logs() as logs:
        await stop_worker_task(task)
    assert task.cancelled()  # the shutdown's cancellation was not swallowed on the way
    assert time.monotonic() - started < 2
    assert deaf.cancellations == worker_module.CANCEL_ATTEMPTS
    assert "job worker does not stop; abandoning it" in [line["event"] for line in logs]


async def test_a_heartbeat_check_that_never_answers_holds_nothing_up() -> None:
    supervisor = Supervised([FakeWorker(0, beating=True)])
    supervisor.connector.hangs = True  # no check ever answers (and one swallows its cancel)
    task = start_worker_task(supervisor)
    try:
        # Unconfirmed for longer than the stall limit: restarted, again and again.
        await _until(lambda: supervisor.restarts >= 2)
        assert supervisor.last_beat is None
        assert str(supervisor.last_error).startswith("stalled")
    finally:
        started = time.monotonic()
        await stop_worker_task(task)
        supervisor.connector.release.set()
    assert task.cancelled()
    assert time.monotonic() - started < 2
