"""The periodic ledger audit on the job queue; its result is stored for the back office."""

from __future__ import annotations

import procrastinate

from medgrader.core.context import short_transaction
from medgrader.jobs.worker import app_context
from medgrader.ledger.audit_runs import audit_and_record

blueprint = procrastinate.Blueprint()


# Hourly: the checks read the whole ledger, cheap enough at this size but not per minute.
@blueprint.periodic(cron="7 * * * *")
@blueprint.task(
    name="audit_ledger", pass_context=True, lock="ledger-audit", queueing_lock="ledger-audit"
)
async def audit_ledger_task(context: procrastinate.JobContext, timestamp: int) -> None:
    async with short_transaction(app_context(context)) as session:
        await audit_and_record(session)
