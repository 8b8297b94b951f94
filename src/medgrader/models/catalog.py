"""Credit packages for sale."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from medgrader.models.base import Base, created_at, updated_at, uuid_pk


class CreditPackage(Base):
    __tablename__ = "credit_packages"
    __table_args__ = (
        Index("uq_credit_packages_name_lower", text("lower(name)"), unique=True),
        CheckConstraint("credits BETWEEN 1 AND 100000", name="credits_range"),
        CheckConstraint("price_pence BETWEEN 1 AND 10000000", name="price_range"),
        CheckConstraint("currency = 'GBP'", name="currency_gbp"),
        CheckConstraint("char_length(name) BETWEEN 1 AND 100", name="name_length"),
        CheckConstraint("validity_days BETWEEN 1 AND 3650", name="validity_days_range"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500))
    credits: Mapped[int] = mapped_column(Integer)
    price_pence: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), server_default="GBP")
    # Purchased credits expire this many days after the purchase; NULL: never.
    validity_days: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
