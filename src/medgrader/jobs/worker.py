"""Running the job worker, alone (`medgrader worker`) or inside the API process, for good.

procrastinate's worker ends when the database goes away: a side task (heartbeat, LISTEN, the
periodic deferrer) fails and the worker stops itself *without raising*, or a fetch raises.
Measured before this module supervised it: after one `pg_terminate_backend` of the app's
connections 916 of 1,000 receipt jobs stayed queued for good and nothing was logged.

`WorkerSupervisor` runs the worker in a loop: whenever it stops or raises (whatever it raises)
the failure is logged and the worker starts again after a back-off (0.5 s doubling to 30 s,
back to 0.5 s once a run has lasted a minute). Only cancellation (shutdown) ends the loop.

It also keeps the worker's heartbeat for /health: every few seconds it reads the worker's own
row in `procrastinate_workers` (which the worker's heartbeat task refreshes) and records when
the database last confirmed the worker alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import procrastinate
import structlog
from procrastinate.worker import Worker

from medgrader.core import metrics
from medgrader.core.context import AppContext

WORKER_CONTEXT_KEY = "app_context"
log = structlog.get_logger(__name__)

MIN_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
# A run that lasted this long was healthy: the next failure starts the back-off afresh.
HEALTHY_RUN_SECONDS = 60.0
HEARTBEAT_INTERVAL_SECONDS = 5.0
SHUTDOWN_GRACE_SECONDS = 20.0

_HEARTBEAT_AGE = """
SELECT extract(epoch FROM now() - last_heartbeat)::float8 AS age
  FROM procrastinate_workers WHERE id = %(worker_id)s
"""


def app_context(job_context: procrastinate.JobContext) -> AppContext:
    """The AppContext of the worker running a job (tasks take `pass_context=True`)."""
    return job_context.additional_context[WORKER_CONTEXT_KEY]  # type: ignore[no-any-return]


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
    ) -> None:
        self.ctx = ctx
        self.concurrency = concurrency
        self.heartbeat_interval = heartbeat_interval
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
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
            # The worker's own heartbeat is the one /health reads (see _watch).
            stalled_worker_timeout=max(30.0, 6 * self.heartbeat_interval),
            # Stopping (a restart after a failure, or shutdown) waits this long for the jobs in
            # hand, then cancels them (they are retried or rescued) instead of waiting forever
            # on one that hangs.
            shutdown_graceful_timeout=SHUTDOWN_GRACE_SECONDS,
        )

    async def run(self) -> None:
        """Run the worker until cancelled, restarting it after every stop or failure."""
        delay = self.min_backoff
        while True:
            worker = self.current = self._new_worker()
            began = time.monotonic()
            watcher = asyncio.create_task(self._watch(worker), name="worker-heartbeat-watch")
            try:
                await worker.run()
                reason = "the worker stopped by itself (a side task failed)"
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # we are being shut down
                reason = "CancelledError from inside the worker"
            except Exception as exc:  # whatever procrastinate raises: log it, start again
                reason = f"{type(exc).__name__}: {exc}"
                log.error("job worker failed", error=reason, exc_info=exc)
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            if time.monotonic() - began >= HEALTHY_RUN_SECONDS:
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

    async def _fresh_connections(self) -> None:
        """Replace the queue pool's idle connections: after a database restart they are all
        dead, and psycopg_pool's checkout check would discard them one at a time, backing off
        1, 2, 4, 8 s between them (measured: a 30 s stall of the restarted worker)."""
        try:
            await self.ctx.job_pool.drain()
        except Exception as exc:
            log.warning("could not renew the job queue's connections", error=repr(exc))

    async def _watch(self, worker: Worker) -> None:
        """Record each time the database shows this worker's heartbeat as fresh."""
        fresh = 2 * self.heartbeat_interval + 1
        confirmed = False  # in this run: until then, look every second
        while True:
            if worker.worker_id is not None:
                try:
                    rows = await self.ctx.jobs.connector.execute_query_all_async(
                        _HEARTBEAT_AGE,  # type: ignore[arg-type]
                        worker_id=worker.worker_id,
                    )
                except Exception as exc:  # the worker's own failure is what gets logged
                    log.debug("worker heartbeat check failed", error=repr(exc))
                else:
                    confirmed = bool(rows) and rows[0]["age"] < fresh
                    if confirmed:
                        self.last_beat = time.monotonic()
            await asyncio.sleep(self.heartbeat_interval if confirmed else 1.0)


async def run_worker(ctx: AppContext, *, concurrency: int = 4) -> None:
    """The worker for good (`medgrader worker`): restarts itself, ends only when cancelled."""
    await WorkerSupervisor(ctx, concurrency=concurrency).run()


def start_worker_task(supervisor: WorkerSupervisor) -> asyncio.Task[None]:
    return asyncio.create_task(supervisor.run(), name="procrastinate-worker")


async def stop_worker_task(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
