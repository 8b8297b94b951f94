"""Notice emails recorded as sent: at most one per key (e.g. one per clawback entry)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, func
from sqlalchemy.orm import Mapped, mapped_column

from medgrader.models.base import Base


class SentNotice(Base):
    __tablename__ = "sent_notices"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
