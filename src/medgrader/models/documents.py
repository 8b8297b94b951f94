"""VAT documents (receipts, credit notes, debit notes), their number series and the students'
billing details.

A document is a snapshot: everything it shows (seller, buyer, lines, amounts) is copied into
its row when it is issued, so rendering it again gives the same content whatever changes
later. Rows are never updated or deleted: a trigger (migration 0014) refuses it. Its number
comes from the series' counter row, taken under that row's lock in the issuing transaction:
numbers follow the order of issue and a rolled-back issue gives its number back (gap-free).
One receipt per payment, one credit note per refund or dispute, one debit note per refund:
partial UNIQUE indexes, not a read-then-write.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from medgrader.models.base import Base, created_at, one_of, updated_at, uuid_pk


class DocumentType(StrEnum):
    RECEIPT = "RECEIPT"
    CREDIT_NOTE = "CREDIT_NOTE"
    DEBIT_NOTE = "DEBIT_NOTE"


class DocumentForm(StrEnum):
    """What the receipt is in VAT law: a plain receipt (seller not VAT-registered), a
    simplified VAT invoice (up to £250, no billing details) or a full VAT invoice."""

    RECEIPT = "RECEIPT"
    SIMPLIFIED = "SIMPLIFIED"
    FULL = "FULL"


class Series(StrEnum):
    """A gap-free number series; debit notes are numbered in the credit notes' series."""

    RECEIPTS = "RECEIPTS"
    CREDIT_NOTES = "CREDIT_NOTES"


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (
        CheckConstraint(one_of("type", DocumentType), name="type"),
        CheckConstraint(one_of("form", DocumentForm), name="form"),
        CheckConstraint(one_of("series", Series), name="series"),
        CheckConstraint("sequence > 0", name="sequence_positive"),
        CheckConstraint(
            "total_minor >= 0 AND vat_minor >= 0 AND net_minor >= 0 "
            "AND total_minor = net_minor + vat_minor",
            name="amounts",
        ),
        CheckConstraint(
            "discount_minor >= 0 AND list_total_minor = total_minor + discount_minor",
            name="discount",
        ),
        CheckConstraint("(type = 'RECEIPT') = (series = 'RECEIPTS')", name="series_of_type"),
        CheckConstraint(
            "type = 'RECEIPT' OR (receipt_id IS NOT NULL "
            "AND (refund_id IS NULL) <> (dispute_id IS NULL))",
            name="note_references",
        ),
        CheckConstraint("(type = 'DEBIT_NOTE') = (cancels_id IS NOT NULL)", name="debit_cancels"),
        # Exactly once, by the database: one receipt per payment, one credit note per refund
        # or dispute, one debit note per credit note.
        Index(
            "uq_documents_receipt_payment",
            "payment_id",
            unique=True,
            postgresql_where=text("type = 'RECEIPT'"),
        ),
        Index(
            "uq_documents_credit_note_refund",
            "refund_id",
            unique=True,
            postgresql_where=text("type = 'CREDIT_NOTE' AND refund_id IS NOT NULL"),
        ),
        Index(
            "uq_documents_credit_note_dispute",
            "dispute_id",
            unique=True,
            postgresql_where=text("type = 'CREDIT_NOTE' AND dispute_id IS NOT NULL"),
        ),
        Index("uq_documents_series_sequence", "series", "sequence", unique=True),
        Index("ix_documents_payment", "payment_id", "issued_at"),
        Index("ix_documents_issued", "issued_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    number: Mapped[str] = mapped_column(String(40), unique=True)
    series: Mapped[str] = mapped_column(String(20))
    sequence: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(20))
    form: Mapped[str] = mapped_column(String(20))
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"))
    student_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("student_profiles.user_id"))
    receipt_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("documents.id"))
    refund_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("refunds.id"))
    dispute_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("disputes.id"))
    cancels_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("documents.id"), unique=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The time of supply: the payment's (VAT on prepaid credits is due when money is received).
    supplied_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    currency: Mapped[str] = mapped_column(String(3))
    seller_name: Mapped[str] = mapped_column(String(200))
    seller_address: Mapped[str] = mapped_column(Text)
    seller_vat_number: Mapped[str | None] = mapped_column(String(20))
    buyer_name: Mapped[str] = mapped_column(String(200))
    buyer_email: Mapped[str] = mapped_column(String(320))
    buyer_address: Mapped[str | None] = mapped_column(Text)
    buyer_company: Mapped[str | None] = mapped_column(String(200))
    buyer_vat_number: Mapped[str | None] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[int] = mapped_column(Integer)
    # The price before any discount and the discount: total = list_total - discount (what was
    # paid, or for a note what is returned). VAT is on the total.
    list_total_minor: Mapped[int] = mapped_column(Integer)
    discount_minor: Mapped[int] = mapped_column(Integer, server_default="0")
    total_minor: Mapped[int] = mapped_column(Integer)
    vat_minor: Mapped[int] = mapped_column(Integer)
    net_minor: Mapped[int] = mapped_column(Integer)
    # NULL when the seller was not VAT-registered at issue.
    vat_rate_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    created_at: Mapped[datetime] = created_at()


class DocumentCounter(Base):
    """The last number given in a series. Taken by an upsert (INSERT ... ON CONFLICT DO UPDATE
    ... RETURNING) under its row lock in the issuing transaction: a series with no row yet
    starts at 1."""

    __tablename__ = "document_counters"
    __table_args__ = (
        CheckConstraint(one_of("series", Series), name="series"),
        CheckConstraint("last_number > 0", name="last_number_positive"),
    )

    series: Mapped[str] = mapped_column(String(20), primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer)


class BillingDetails(Base):
    """What a student wants on later documents (a full VAT invoice)."""

    __tablename__ = "billing_details"

    student_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("student_profiles.user_id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(200))
    address_line1: Mapped[str] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    postcode: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(100))
    company_name: Mapped[str | None] = mapped_column(String(200))
    vat_number: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
