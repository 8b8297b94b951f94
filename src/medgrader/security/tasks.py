"""Retention: expired limit windows, revoked tokens past their expiry, dead reset codes."""

from __future__ import annotations

import procrastinate
import structlog
from sqlalchemy import text

from medgrader.auth import revocation
from medgrader.core.context import AppContext, short_transaction
from medgrader.jobs.worker import app_context
from medgrader.security import limits

log = structlog.get_logger(__name__)

blueprint = procrastinate.Blueprint()

_PURGE_RESET_CODES = text("DELETE FROM password_reset_codes WHERE expires_at < now()")


async def purge_security_rows(ctx: AppContext) -> dict[str, int]:
    windows = await limits.purge_expired(ctx)
    async with short_transaction(ctx) as session:
        tokens = await revocation.purge_expired(session)
        codes = (await session.execute(_PURGE_RESET_CODES)).rowcount  # type: ignore[attr-defined]
    purged = {"rate_limits": windows, "revoked_tokens": tokens, "reset_codes": int(codes or 0)}
    log.info("security rows purged", **purged)
    return purged


@blueprint.periodic(cron="17 * * * *")
@blueprint.task(name="purge_security_rows", pass_context=True, queueing_lock="security-purge")
async def purge_security_rows_task(context: procrastinate.JobContext, timestamp: int) -> None:
    await purge_security_rows(app_context(context))
