"""Running the job queue inline: the fast tier's app runs no worker; a test (or the mailbox,
before each look) runs the queue here until nothing is due, on the app's own context.

Deterministic: jobs run one at a time, those they defer run too, and it returns when no job is
due. Jobs scheduled for later (a retry's back-off) stay queued. Periodic tasks are not deferred
(procrastinate's worker would defer each one whose time came); a test that needs one calls it.
"""

from __future__ import annotations

import asyncio

from procrastinate.worker import Worker

from medgrader.core.context import AppContext
from medgrader.jobs.worker import WORKER_CONTEXT_KEY


class _InlineWorker(Worker):
    async def _periodic_deferrer(self) -> None:
        await asyncio.Event().wait()  # never: no periodic job is deferred behind the test's back


async def run_jobs_until_idle(ctx: AppContext) -> None:
    worker = _InlineWorker(
        app=ctx.jobs,
        name="inline",
        concurrency=1,
        wait=False,
        listen_notify=False,
        install_signal_handlers=False,
        additional_context={WORKER_CONTEXT_KEY: ctx},
    )
    await worker.run()
