"""The periodic ledger audit on the job queue; its result is stored for the back office."""

from __future__ import annotations

import procrastinate

from medgrader.audit.runs import audit_and_record
from medgrader.db.transactions import unit_of_work
from medgrader.jobs.worker import app_context

blueprint = procrastinate.Blueprint()


# Hourly: the checks read the whole ledger, cheap enough at this size but not per minute.
@blueprint.periodic(cron="7 * * * *")
@blueprint.task(
    name="audit_ledger", pass_context=True, lock="ledger-audit", queueing_lock="ledger-audit"
)
async def audit_ledger_task(context: procrastinate.JobContext, timestamp: int) -> None:
    async with unit_of_work(app_context(context).db_pool) as db:
        await audit_and_record(db)
