"""Running the audit and keeping its result, for the back office's "last audit" figure."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import insert, select

from medgrader.audit.checks import run_audit
from medgrader.db.session import Db
from medgrader.models.audit import AuditRun

log = structlog.get_logger(__name__)
KEPT_DETAILS = 50
RUNS = AuditRun.__table__


@dataclass(frozen=True)
class StoredAudit:
    ran_at: datetime
    findings: int
    details: list[str]

    @classmethod
    def of(cls, row: Any) -> StoredAudit:
        return cls(ran_at=row.ran_at, findings=row.findings, details=list(row.details))


async def audit_and_record(db: Db) -> StoredAudit:
    """Run every audit check and store the outcome (the caller commits)."""
    started = time.monotonic()
    findings = await run_audit(db)
    statement = (
        insert(RUNS)
        .values(
            findings=len(findings),
            details=[f"{f.check}: {f.subject}: {f.detail}" for f in findings[:KEPT_DETAILS]],
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        .returning(RUNS.c.ran_at, RUNS.c.findings, RUNS.c.details)
    )
    run = StoredAudit.of((await db.execute(statement)).one())
    if findings:
        log.error("ALERT ledger audit findings", alert="audit_findings", findings=len(findings))
    return run


async def latest(db: Db) -> StoredAudit | None:
    statement = (
        select(RUNS.c.ran_at, RUNS.c.findings, RUNS.c.details)
        .order_by(RUNS.c.ran_at.desc())
        .limit(1)
    )
    row = (await db.execute(statement)).one_or_none()
    return None if row is None else StoredAudit.of(row)
