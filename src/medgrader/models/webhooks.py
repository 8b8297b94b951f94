"""The webhook inbox: every Stripe event we accepted, keyed by Stripe's event id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from medgrader.models.base import Base


class WebhookEvent(Base):
    __tablename__ = "webhook_events"
    __table_args__ = (
        Index(
            "ix_webhook_events_unprocessed",
            "received_at",
            postgresql_where=text("processed_at IS NULL"),
        ),
        Index("ix_webhook_events_received", "received_at"),
    )

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100), index=True)
    # json (exact text), not jsonb: see webhooks.repository.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Deliveries and replays that reached the handler (an unprocessed event is tried again).
    attempts: Mapped[int] = mapped_column(Integer, server_default="1")
    # What handling concluded when it did not credit: "ignored", "amount_mismatch: ...", etc.
    outcome: Mapped[str | None] = mapped_column(Text)
