"""Running the job worker: alone (`medgrader worker`) or inside the API process."""

from __future__ import annotations

import asyncio
import contextlib

import procrastinate

from medgrader.core.context import AppContext

WORKER_CONTEXT_KEY = "app_context"


def app_context(job_context: procrastinate.JobContext) -> AppContext:
    """The AppContext of the worker running a job (tasks take `pass_context=True`)."""
    return job_context.additional_context[WORKER_CONTEXT_KEY]  # type: ignore[no-any-return]


async def run_worker(ctx: AppContext, *, wait: bool = True, concurrency: int = 4) -> None:
    await ctx.jobs.run_worker_async(
        install_signal_handlers=False,
        concurrency=concurrency,
        wait=wait,
        additional_context={WORKER_CONTEXT_KEY: ctx},
        fetch_job_polling_interval=1.0,
    )


def start_worker_task(ctx: AppContext) -> asyncio.Task[None]:
    return asyncio.create_task(run_worker(ctx), name="procrastinate-worker")


async def stop_worker_task(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
