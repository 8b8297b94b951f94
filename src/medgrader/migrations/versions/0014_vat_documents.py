"""documents: VAT receipts, credit and debit notes, their gap-free counters, billing details

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-05

Issued documents are immutable: a row trigger refuses UPDATE and DELETE (the test suite's
wipe runs with session_replication_role = replica, where ordinary triggers do not fire).
`refunds.succeeded_at` records that a refund was once seen succeeded, so that its credit note
(and, when it fails afterwards, the debit note) is due whatever order its events came in.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_IMMUTABLE_FUNCTION = """
CREATE FUNCTION documents_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'issued documents are never changed (% on document %)', TG_OP, OLD.number
        USING ERRCODE = 'integrity_constraint_violation';
END
$$
"""


def upgrade() -> None:
    op.add_column("refunds", sa.Column("succeeded_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE refunds SET succeeded_at = updated_at WHERE status = 'succeeded'")
    op.create_table(
        "documents",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("number", sa.String(40), nullable=False),
        sa.Column("series", sa.String(20), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("form", sa.String(20), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("student_id", sa.Uuid(), nullable=False),
        sa.Column("receipt_id", sa.Uuid(), nullable=True),
        sa.Column("refund_id", sa.Uuid(), nullable=True),
        sa.Column("dispute_id", sa.Uuid(), nullable=True),
        sa.Column("cancels_id", sa.Uuid(), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("supplied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("seller_name", sa.String(200), nullable=False),
        sa.Column("seller_address", sa.Text(), nullable=False),
        sa.Column("seller_vat_number", sa.String(20), nullable=True),
        sa.Column("buyer_name", sa.String(200), nullable=False),
        sa.Column("buyer_email", sa.String(320), nullable=False),
        sa.Column("buyer_address", sa.Text(), nullable=True),
        sa.Column("buyer_company", sa.String(200), nullable=True),
        sa.Column("buyer_vat_number", sa.String(20), nullable=True),
        sa.Column("description", sa.String(300), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("list_total_minor", sa.Integer(), nullable=False),
        sa.Column("discount_minor", sa.Integer(), server_default="0", nullable=False),
        sa.Column("total_minor", sa.Integer(), nullable=False),
        sa.Column("vat_minor", sa.Integer(), nullable=False),
        sa.Column("net_minor", sa.Integer(), nullable=False),
        sa.Column("vat_rate_percent", sa.Numeric(5, 2), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("type IN ('RECEIPT', 'CREDIT_NOTE', 'DEBIT_NOTE')", name=op.f("ck_documents_type")),
        sa.CheckConstraint("form IN ('RECEIPT', 'SIMPLIFIED', 'FULL')", name=op.f("ck_documents_form")),
        sa.CheckConstraint("series IN ('RECEIPTS', 'CREDIT_NOTES')", name=op.f("ck_documents_series")),
        sa.CheckConstraint("sequence > 0", name=op.f("ck_documents_sequence_positive")),
        sa.CheckConstraint(
            "total_minor >= 0 AND vat_minor >= 0 AND net_minor >= 0 AND total_minor = net_minor + vat_minor",
            name=op.f("ck_documents_amounts"),
        ),
        sa.CheckConstraint(
            "discount_minor >= 0 AND list_total_minor = total_minor + discount_minor",
            name=op.f("ck_documents_discount"),
        ),
        sa.CheckConstraint("(type = 'RECEIPT') = (series = 'RECEIPTS')", name=op.f("ck_documents_series_of_type")),
        sa.CheckConstraint(
            "type = 'RECEIPT' OR (receipt_id IS NOT NULL AND (refund_id IS NULL) <> (dispute_id IS NULL))",
            name=op.f("ck_documents_note_references"),
        ),
        sa.CheckConstraint("(type = 'DEBIT_NOTE') = (cancels_id IS NOT NULL)", name=op.f("ck_documents_debit_cancels")),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name=op.f("fk_documents_payment_id_payments")),
        sa.ForeignKeyConstraint(["student_id"], ["student_profiles.user_id"], name=op.f("fk_documents_student_id_student_profiles")),
        sa.ForeignKeyConstraint(["receipt_id"], ["documents.id"], name=op.f("fk_documents_receipt_id_documents")),
        sa.ForeignKeyConstraint(["refund_id"], ["refunds.id"], name=op.f("fk_documents_refund_id_refunds")),
        sa.ForeignKeyConstraint(["dispute_id"], ["disputes.id"], name=op.f("fk_documents_dispute_id_disputes")),
        sa.ForeignKeyConstraint(["cancels_id"], ["documents.id"], name=op.f("fk_documents_cancels_id_documents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
        sa.UniqueConstraint("number", name=op.f("uq_documents_number")),
        sa.UniqueConstraint("cancels_id", name=op.f("uq_documents_cancels_id")),
    )  # fmt: skip
    op.create_index("uq_documents_receipt_payment", "documents", ["payment_id"], unique=True,
                    postgresql_where=sa.text("type = 'RECEIPT'"))  # fmt: skip
    op.create_index("uq_documents_credit_note_refund", "documents", ["refund_id"], unique=True,
                    postgresql_where=sa.text("type = 'CREDIT_NOTE' AND refund_id IS NOT NULL"))  # fmt: skip
    op.create_index("uq_documents_credit_note_dispute", "documents", ["dispute_id"], unique=True,
                    postgresql_where=sa.text("type = 'CREDIT_NOTE' AND dispute_id IS NOT NULL"))  # fmt: skip
    op.create_index(
        "uq_documents_series_sequence", "documents", ["series", "sequence"], unique=True
    )
    op.create_index("ix_documents_payment", "documents", ["payment_id", "issued_at"])
    op.create_index("ix_documents_issued", "documents", ["issued_at"])
    op.execute(_IMMUTABLE_FUNCTION)
    op.execute(
        "CREATE TRIGGER documents_immutable BEFORE UPDATE OR DELETE ON documents "
        "FOR EACH ROW EXECUTE FUNCTION documents_refuse_change()"
    )
    op.create_table(
        "document_counters",
        sa.Column("series", sa.String(20), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.CheckConstraint("series IN ('RECEIPTS', 'CREDIT_NOTES')", name=op.f("ck_document_counters_series")),
        sa.CheckConstraint("last_number > 0", name=op.f("ck_document_counters_last_number_positive")),
        sa.PrimaryKeyConstraint("series", name=op.f("pk_document_counters")),
    )  # fmt: skip
    op.create_table(
        "billing_details",
        sa.Column("student_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("address_line1", sa.String(200), nullable=False),
        sa.Column("address_line2", sa.String(200), nullable=True),
        sa.Column("city", sa.String(100), nullable=False),
        sa.Column("postcode", sa.String(20), nullable=False),
        sa.Column("country", sa.String(100), nullable=False),
        sa.Column("company_name", sa.String(200), nullable=True),
        sa.Column("vat_number", sa.String(20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["student_id"], ["student_profiles.user_id"], ondelete="CASCADE",
                                name=op.f("fk_billing_details_student_id_student_profiles")),
        sa.PrimaryKeyConstraint("student_id", name=op.f("pk_billing_details")),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("billing_details")
    op.drop_table("document_counters")
    op.execute("DROP TRIGGER documents_immutable ON documents")
    op.execute("DROP FUNCTION documents_refuse_change()")
    op.drop_table("documents")
    op.drop_column("refunds", "succeeded_at")
