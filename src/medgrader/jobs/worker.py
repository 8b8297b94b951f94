"""Running the job worker, alone (`medgrader worker`) or inside the API process, for good.

procrastinate's worker ends when the database goes away: a side task (heartbeat, LISTEN, the
periodic deferrer) fails and the worker stops itself *without raising*, or a fetch raises.
Measured before this module supervised it: after one `pg_terminate_backend` of the app's
connections 916 of 1,000 receipt jobs stayed queued for good and nothing was logged.

`WorkerSupervisor` runs the worker in a loop: whenever it ends (stops, raises whatever it
raises) or stalls (the database has not seen its heartbeat for STALL_AFTER_SECONDS), the reason
is logged and a new worker starts after a back-off (0.5 s doubling to 10 s, back to 0.5 s after
any run whose heartbeat the database confirmed). Only cancellation (shutdown) ends the loop, and
it always does: the worker is stopped within bounds and the cancellation is raised again.

The supervisor awaits nothing but `asyncio.wait` and `asyncio.sleep`. Any other wait could
swallow its cancellation: on Python 3.11, `asyncio.wait_for` returns the result instead of
raising when what it waits for completes just as it is cancelled (CPython gh-86296; 3.12's
rewrite fixed it, 3.11 keeps it), and psycopg_pool's getconn waits through `wait_for`. Measured
here: of 480 tasks cancelled while a pooled connection was being handed to them, 120 went on as
if never cancelled. The previous supervisor cancelled its heartbeat watcher (a loop asking the
job pool for a connection every second) and then awaited it: after a database crash, with the
pool handing out fresh connections, the watcher could lose that cancellation and loop for ever,
and the supervisor waited for ever behind it (no worker, /health 503, receipts queued, until
SIGTERM, whose own cancellation it then swallowed). So the worker runs in a task of its own,
each heartbeat check and each pool renewal is a one-shot task waited for with a bound (it ends
by itself, so a lost cancellation costs nothing), and a worker that will not stop is cancelled
again and, in the end, abandoned with an error rather than waited for.

The heartbeat the supervisor confirms (its worker's own row in `procrastinate_workers`, which
the worker's heartbeat task refreshes) is also what /health reads.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import procrastinate
import structlog
from procrastinate.worker import Worker

from medgrader.core import metrics
from medgrader.core.context import AppContext

WORKER_CONTEXT_KEY = "app_context"
log = structlog.get_logger(__name__)
T = TypeVar("T")

MIN_BACKOFF_SECONDS = 0.5
# A start that fails costs one request for a pooled connection: trying every 10 s costs next to
# nothing and bounds how long the worker stays away after a long database outage.
MAX_BACKOFF_SECONDS = 10.0
HEARTBEAT_INTERVAL_SECONDS = 5.0
# No heartbeat confirmed by the database for this long: the worker is stuck (or cannot reach
# the database at all); it is stopped and started afresh.
STALL_AFTER_SECONDS = 30.0
# procrastinate's own wait for the jobs in hand when the worker stops; then it cancels them.
SHUTDOWN_GRACE_SECONDS = 20.0
# Beyond that grace, how long a stopping worker gets before it is cancelled, and how often a
# cancellation it lost (see the module's docstring) is repeated before it is abandoned.
STOP_MARGIN_SECONDS = 5.0
CANCEL_ATTEMPTS = 3
CANCEL_WAIT_SECONDS = 2.0
CHECK_TIMEOUT_SECONDS = 5.0

_HEARTBEAT_AGE = """
SELECT extract(epoch FROM now() - last_heartbeat)::float8 AS age
  FROM procrastinate_workers WHERE id = %(worker_id)s
"""


def app_context(job_context: procrastinate.JobContext) -> AppContext:
    """The AppContext of the worker running a job (tasks take `pass_context=True`)."""
    return job_context.additional_context[WORKER_CONTEXT_KEY]  # type: ignore[no-any-return]


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Done callback of a task nobody may be waiting for any more: fetch its outcome so that
    asyncio does not report an exception that was never retrieved."""
    if not task.cancelled():
        task.exception()


async def _within(seconds: float, coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` as a task of its own and wait at most `seconds` for its result (else
    TimeoutError). The caller's cancellation is raised here whatever the task does with its own."""
    task = asyncio.create_task(coroutine)
    task.add_done_callback(_retrieve)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        raise TimeoutError(f"no answer within {seconds:g} s")
    if task.cancelled():  # not by us: an error of the task's, not a cancellation of ours
        raise TimeoutError("cancelled from elsewhere")
    return task.result()


async def _ended(task: asyncio.Task[Any], within: float) -> bool:
    done, _ = await asyncio.wait({task}, timeout=within)
    return bool(done)


class WorkerSupervisor:
    """Keeps one procrastinate worker running in this process and knows when it last beat."""

    def __init__(
        self,
        ctx: AppContext,
        *,
        concurrency: int = 4,
        heartbeat_interval: float = HEARTBEAT_INTERVAL_SECONDS,
        min_backoff: float = MIN_BACKOFF_SECONDS,
        max_backoff: float = MAX_BACKOFF_SECONDS,
        stall_after: float = STALL_AFTER_SECONDS,
        shutdown_grace: float = SHUTDOWN_GRACE_SECONDS,
    ) -> None:
        self.ctx = ctx
        self.concurrency = concurrency
        self.heartbeat_interval = heartbeat_interval
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.stall_after = max(stall_after, 3 * heartbeat_interval)
        self.shutdown_grace = shutdown_grace
        self._first_look = min(1.0, heartbeat_interval)  # until a run's first confirmed beat
        self.started_at = time.monotonic()
        self.last_beat: float | None = None  # monotonic time the database last confirmed it
        self.restarts = 0
        self.last_error: str | None = None
        self.current: Worker | None = None

    def seconds_since_beat(self) -> float:
        """Seconds since the worker's heartbeat was last confirmed (since start, if never)."""
        return time.monotonic() - (self.last_beat or self.started_at)

    def _new_worker(self) -> Worker:
        return Worker(
            app=self.ctx.jobs,
            name="medgrader",
            concurrency=self.concurrency,
            wait=True,
            install_signal_handlers=False,
            additional_context={WORKER_CONTEXT_KEY: self.ctx},
            fetch_job_polling_interval=1.0,
            update_heartbeat_interval=self.heartbeat_interval,
            # The worker's own heartbeat is the one /health reads (see _confirm_heartbeat).
            stalled_worker_timeout=max(30.0, 6 * self.heartbeat_interval),
            # Stopping (a restart, or shutdown) waits this long for the jobs in hand, then
            # cancels them (they are retried or rescued) instead of waiting forever on one
            # that hangs.
            shutdown_graceful_timeout=self.shutdown_grace,
        )

    async def run(self) -> None:
        """Run the worker until cancelled, restarting it whenever it ends or stalls."""
        delay = self.min_backoff
        while True:
            worker = self.current = self._new_worker()
            run = asyncio.create_task(worker.run(), name="procrastinate-worker-run")
            run.add_done_callback(_retrieve)
            beats_before = self.last_beat
            try:
                reason = await self._supervise(worker, run)
            except asyncio.CancelledError:  # shutdown: stop the worker, within bounds
                await self._stop(worker, run)
                raise
            if self.last_beat != beats_before:  # this run got going: start the back-off afresh
                delay = self.min_backoff
            self.restarts += 1
            self.last_error = reason
            metrics.WORKER_RESTARTS.inc()
            log.error(
                "job worker stopped; restarting",
                reason=reason,
                retry_in_seconds=round(delay, 2),
                restarts=self.restarts,
            )
            await self._fresh_connections()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_backoff)

    async def _supervise(self, worker: Worker, run: asyncio.Task[None]) -> str:
        """Wait for the worker to end, checking its heartbeat meanwhile; why it ended."""
        silent_since = time.monotonic()
        confirmed = False
        while True:
            if await _ended(run, self.heartbeat_interval if confirmed else self._first_look):
                return self._outcome(run)
            confirmed = await self._confirm_heartbeat(worker)
            if confirmed:
                silent_since = time.monotonic()
            elif time.monotonic() - silent_since > self.stall_after:
                reason = f"stalled: no heartbeat for {time.monotonic() - silent_since:.0f} s"
                log.error("job worker stalled; stopping it", reason=reason)
                await self._stop(worker, run)
                return reason

    def _outcome(self, run: asyncio.Task[None]) -> str:
        if run.cancelled():
            return "the worker was cancelled"
        error = run.exception()
        if error is None:
            return "the worker stopped by itself (a side task failed)"
        reason = f"{type(error).__name__}: {error}"
        log.error("job worker failed", error=reason, exc_info=error)
        return reason

    async def _stop(self, worker: Worker, run: asyncio.Task[None]) -> None:
        """Stop the worker: gracefully (the jobs in hand get the grace period), then by
        cancellation, repeated because one can be lost; abandon it if it still runs."""
        worker.stop()
        if worker.worker_id is None:
            # Not (or no longer) registered: no job in hand. And a stop requested before the
            # worker's run() began is forgotten by it (it clears stale stops first).
            run.cancel()
        if await _ended(run, self.shutdown_grace + STOP_MARGIN_SECONDS):
            return
        for _ in range(CANCEL_ATTEMPTS):
            run.cancel()
            if await _ended(run, CANCEL_WAIT_SECONDS):
                return
        log.error("job worker does not stop; abandoning it", worker_id=worker.worker_id)

    async def _confirm_heartbeat(self, worker: Worker) -> bool:
        """Whether the database shows this worker's heartbeat as fresh (recorded for /health)."""
        worker_id = worker.worker_id
        if worker_id is None:  # not registered yet, or gone
            return False
        try:
            rows = await _within(
                CHECK_TIMEOUT_SECONDS,
                self.ctx.jobs.connector.execute_query_all_async(
                    _HEARTBEAT_AGE,  # type: ignore[arg-type]
                    worker_id=worker_id,
                ),
            )
        except Exception as exc:  # the worker's own failure is what gets logged
            log.debug("worker heartbeat check failed", error=repr(exc))
            return False
        fresh = bool(rows) and rows[0]["age"] < 2 * self.heartbeat_interval + 1
        if fresh:
            self.last_beat = time.monotonic()
        return fresh

    async def _fresh_connections(self) -> None:
        """Replace the queue pool's idle connections: after a database restart they are all
        dead, and psycopg_pool's checkout check would discard them one at a time, backing off
        1, 2, 4, 8 s between them (measured: a 30 s stall of the restarted worker)."""
        try:
            await _within(CHECK_TIMEOUT_SECONDS, self.ctx.job_pool.drain())
        except Exception as exc:
            log.warning("could not renew the job queue's connections", error=repr(exc))


async def run_worker(ctx: AppContext, *, concurrency: int = 4) -> None:
    """The worker for good (`medgrader worker`): restarts itself, ends only when cancelled."""
    await WorkerSupervisor(ctx, concurrency=concurrency).run()


def start_worker_task(supervisor: WorkerSupervisor) -> asyncio.Task[None]:
    return asyncio.create_task(supervisor.run(), name="procrastinate-worker")


async def stop_worker_task(task: asyncio.Task[None]) -> None:
    """Cancel the supervisor and wait for it within bounds; a cancellation of the caller (a
    shutdown being cut short) is raised, not swallowed."""
    task.cancel()
    within = SHUTDOWN_GRACE_SECONDS + STOP_MARGIN_SECONDS + CANCEL_ATTEMPTS * CANCEL_WAIT_SECONDS
    if not await _ended(task, within + 1):
        log.error("job worker supervisor did not stop; leaving it")
    elif not task.cancelled() and task.exception() is not None:
        log.error("job worker supervisor failed", exc_info=task.exception())
