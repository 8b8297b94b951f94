"""Jobs that issue VAT documents, off the webhook's path.

A payment's documents are issued by `documents.service.issue_due_documents`, in a transaction
of its own, by whichever comes first: the receipt email's job (notifications.tasks, deferred
in the fulfilling transaction: the receipt exists before its email is sent), the job the
returns function defers when a refund or dispute is recorded (`issue_documents`), and the
sweep below, which finds every payment still lacking a document it is due (a job that failed
for good, a payment made by a path that deferred nothing) so that a committed payment always
gets its receipt. Each is idempotent: running twice issues nothing the second time.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import procrastinate
import structlog

from medgrader.core.context import AppContext
from medgrader.db.transactions import unit_of_work
from medgrader.documents import repository
from medgrader.documents.service import Seller, issue_due_documents
from medgrader.jobs.queues import RECEIPTS_QUEUE
from medgrader.jobs.worker import app_context

log = structlog.get_logger(__name__)
blueprint = procrastinate.Blueprint()

# The sweep leaves alone payments younger than this: their own jobs are still on their way.
SWEEP_GRACE = timedelta(minutes=2)
SWEEP_BATCH = 500
# A database error (a deadlock, a lost connection): again a little later; the sweep is the net.
RETRY = procrastinate.RetryStrategy(max_attempts=10, wait=5, exponential_wait=2)


async def issue_for_payment(ctx: AppContext, payment_id: uuid.UUID) -> list[str]:
    """Issue what the payment is due, committed; returns the numbers issued."""
    async with unit_of_work(ctx.db_pool) as db:
        issued = await issue_due_documents(db, Seller.of(ctx.settings), payment_id)
    return [document.number for document in issued]


@blueprint.task(name="issue_documents", queue=RECEIPTS_QUEUE, pass_context=True, retry=RETRY)
async def issue_documents(context: procrastinate.JobContext, payment_id: str) -> None:
    await issue_for_payment(app_context(context), uuid.UUID(payment_id))


async def sweep(
    ctx: AppContext, *, grace: timedelta = SWEEP_GRACE, limit: int = SWEEP_BATCH
) -> list[str]:
    """Issue the documents of every payment older than `grace` that lacks one it is due, in
    payment order, one transaction per payment; returns the numbers issued."""
    before = datetime.now(UTC) - grace
    async with unit_of_work(ctx.db_pool) as db:
        payment_ids = await repository.payments_missing_documents(db, before=before, limit=limit)
    numbers: list[str] = []
    for payment_id in payment_ids:
        numbers += await issue_for_payment(ctx, payment_id)
    if numbers:
        log.warning("documents issued by the sweep", count=len(numbers), numbers=numbers[:20])
    return numbers


@blueprint.periodic(cron="*/5 * * * *")
@blueprint.task(
    name="sweep_documents",
    pass_context=True,
    lock="documents-sweep",
    queueing_lock="documents-sweep",
)
async def sweep_documents(context: procrastinate.JobContext, timestamp: int) -> None:
    await sweep(app_context(context))
