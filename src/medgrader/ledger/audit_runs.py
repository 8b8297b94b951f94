"""Running the audit and keeping its result, for the back office's "last audit" figure."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from medgrader.ledger.audit import run_audit
from medgrader.models.audit import AuditRun

log = structlog.get_logger(__name__)
KEPT_DETAILS = 50


@dataclass(frozen=True)
class StoredAudit:
    ran_at: datetime
    findings: int
    details: list[str]


async def audit_and_record(session: AsyncSession) -> StoredAudit:
    """Run every audit check and store the outcome (the caller commits)."""
    started = time.monotonic()
    findings = await run_audit(session)
    run = AuditRun(
        findings=len(findings),
        details=[f"{f.check}: {f.subject}: {f.detail}" for f in findings[:KEPT_DETAILS]],
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    session.add(run)
    await session.flush()
    await session.refresh(run)
    if findings:
        log.error("ALERT ledger audit findings", alert="audit_findings", findings=len(findings))
    return StoredAudit(ran_at=run.ran_at, findings=run.findings, details=list(run.details))


async def latest(session: AsyncSession) -> StoredAudit | None:
    run = await session.scalar(select(AuditRun).order_by(AuditRun.ran_at.desc()).limit(1))
    if run is None:
        return None
    return StoredAudit(ran_at=run.ran_at, findings=run.findings, details=list(run.details))
