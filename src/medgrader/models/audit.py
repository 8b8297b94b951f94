"""Results of the periodic ledger audit, kept so that the back office can show the last one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Integer, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from medgrader.models.base import Base


class AuditRun(Base):
    __tablename__ = "audit_runs"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    ran_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    findings: Mapped[int] = mapped_column(Integer)
    # The first findings as "check: subject: detail" lines (all of them are in the CLI's output).
    details: Mapped[list[Any]] = mapped_column(JSONB)
    duration_ms: Mapped[int] = mapped_column(Integer)
