"""The lots' job: email a student before their credits expire (one email per lot, never twice,
none for less than a credit left free in it). The expiry itself is the every-minute sweep of
holds.tasks (holds and lots settle together, student by student).

Each reminder is claimed ("expiry:<lot id>" in sent_notices) in the transaction that sends it:
a failed send rolls the claim back and the next run tries again; a second run (or worker)
finds it claimed. At-least-once delivery, like the receipts: a crash after the SMTP server
accepted the mail and before the commit sends it again.
"""

from __future__ import annotations

import procrastinate
import structlog

from medgrader.core.adapters.mailer import MailDeliveryError
from medgrader.core.context import AppContext
from medgrader.db.transactions import unit_of_work
from medgrader.jobs.worker import app_context
from medgrader.lots import service
from medgrader.lots.repository import REMINDER_KEY
from medgrader.notifications.emails import expiry_reminder_email
from medgrader.notifications.notices import CLAIM_NOTICE

log = structlog.get_logger(__name__)
blueprint = procrastinate.Blueprint()


async def send_expiry_reminders(ctx: AppContext) -> int:
    """Send the reminders due now; returns how many were sent."""
    settings = ctx.settings
    async with unit_of_work(ctx.db_pool) as db:
        due = await service.due_reminders(db, days=settings.expiry_reminder_days)
    sent = 0
    for lot in due:
        async with unit_of_work(ctx.db_pool) as db:
            claimed = await db.execute(CLAIM_NOTICE, {"key": REMINDER_KEY.format(lot.id)})
            if claimed.first() is None:
                continue  # another run sent it
            message = expiry_reminder_email(
                app_name=settings.app_name,
                to=lot.email,
                first_name=lot.first_name,
                credits=int(lot.credits),
                rollover=int(lot.rollover),
                expires_at=lot.expires_at,
                dashboard_url=f"{settings.frontend_url.rstrip('/')}/dashboard",
                message_id=ctx.mailer.message_id(f"expiry-{lot.id}"),
            )
            try:
                await ctx.mailer.send(message)
            except MailDeliveryError as exc:
                log.warning("expiry reminder not sent; next run retries", lot_id=str(lot.id),
                            error=str(exc))  # fmt: skip
                raise
        sent += 1
    if sent:
        log.info("expiry reminders sent", sent=sent)
    return sent


@blueprint.periodic(cron="*/10 * * * *")
@blueprint.task(
    name="send_expiry_reminders",
    pass_context=True,
    lock="lots-reminders",
    queueing_lock="lots-reminders",
)
async def send_expiry_reminders_task(context: procrastinate.JobContext, timestamp: int) -> None:
    await send_expiry_reminders(app_context(context))
