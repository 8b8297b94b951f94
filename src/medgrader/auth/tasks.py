"""Retention: expired limit windows, revoked tokens past their expiry, dead reset codes.

Beside the accounts it mostly cleans up (auth depends on security's limits, never the other
way round); registered under the namespace it has always had ("security:purge_security_rows",
see medgrader.runtime), so queued jobs keep their name."""

from __future__ import annotations

import procrastinate
import structlog
from sqlalchemy import text

from medgrader.auth import revocation
from medgrader.core.context import AppContext
from medgrader.db.transactions import unit_of_work
from medgrader.jobs.worker import app_context
from medgrader.security import limits

log = structlog.get_logger(__name__)

blueprint = procrastinate.Blueprint()

_PURGE_RESET_CODES = text("DELETE FROM password_reset_codes WHERE expires_at < now()")


async def purge_security_rows(ctx: AppContext) -> dict[str, int]:
    async with unit_of_work(ctx.db_pool) as db:
        windows = await limits.purge_expired(db)
        tokens = await revocation.purge_expired(db)
        codes = (await db.execute(_PURGE_RESET_CODES)).rowcount
    purged = {"rate_limits": windows, "revoked_tokens": tokens, "reset_codes": codes}
    log.info("security rows purged", **purged)
    return purged


@blueprint.periodic(cron="17 * * * *")
@blueprint.task(name="purge_security_rows", pass_context=True, queueing_lock="security-purge")
async def purge_security_rows_task(context: procrastinate.JobContext, timestamp: int) -> None:
    await purge_security_rows(app_context(context))
