"""The inbox's daily retention job (see webhooks.retention)."""

from __future__ import annotations

import procrastinate

from medgrader.jobs.worker import app_context
from medgrader.webhooks.retention import purge_old_events

blueprint = procrastinate.Blueprint()


# Daily at 03:41 UTC, a quiet hour; procrastinate defers each tick once, whatever the number
# of workers, and the queueing lock keeps a slow run from piling up behind itself.
@blueprint.periodic(cron="41 3 * * *")
@blueprint.task(name="purge_webhook_events", pass_context=True, queueing_lock="webhooks-purge")
async def purge_webhook_events_task(context: procrastinate.JobContext, timestamp: int) -> None:
    ctx = app_context(context)
    await purge_old_events(ctx, older_than_days=ctx.settings.webhook_event_retention_days)
