"""credit holds: reservations for live usage, counted against the available balance

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

`credit_holds` keeps one row per hold. Holds are not ledger entries: the balance stays the sum
of the ledger, and the available balance (balance minus the ACTIVE, unexpired holds) is
computed where it is checked, under the balance row lock. The partial index on ACTIVE rows is
what that sum reads; closed holds leave it. A capture posts one USAGE entry whose source_id is
"hold:<id>"; a partial UNIQUE index on credit_transactions makes a second one impossible.

Downgrade drops the table and the index (holds still ACTIVE are simply forgotten: they never
moved a balance).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credit_holds",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("student_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="ACTIVE", nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("captured_amount", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("ttl_seconds", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "status IN ('ACTIVE', 'CAPTURED', 'RELEASED', 'EXPIRED')",
            name=op.f("ck_credit_holds_status"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_credit_holds_amount_positive")),
        sa.CheckConstraint(
            "ttl_seconds BETWEEN 60 AND 86400", name=op.f("ck_credit_holds_ttl_range")
        ),
        sa.CheckConstraint(
            "(status = 'CAPTURED') = (captured_amount IS NOT NULL)"
            " AND (captured_amount IS NULL OR captured_amount BETWEEN 1 AND amount)",
            name=op.f("ck_credit_holds_captured_amount"),
        ),
        sa.CheckConstraint(
            "(status = 'ACTIVE') = (closed_at IS NULL)", name=op.f("ck_credit_holds_closed_at")
        ),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["users.id"],
            name=op.f("fk_credit_holds_student_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_holds")),
        sa.UniqueConstraint("seq", name=op.f("uq_credit_holds_seq")),
    )
    op.create_index(
        "ix_credit_holds_active",
        "credit_holds",
        ["student_id", "expires_at"],
        postgresql_include=["amount"],
        postgresql_where=sa.text("status = 'ACTIVE'"),
    )
    op.create_index(
        "ix_credit_holds_student_seq",
        "credit_holds",
        ["student_id", sa.literal_column("seq DESC")],
    )
    op.create_index(
        "ix_credit_holds_sweep",
        "credit_holds",
        ["expires_at"],
        postgresql_where=sa.text("status = 'ACTIVE'"),
    )
    op.create_index(
        "uq_credit_transactions_hold_capture",
        "credit_transactions",
        ["source_id"],
        unique=True,
        postgresql_where=sa.text("source_type = 'USAGE' AND source_id LIKE 'hold:%'"),
    )


def downgrade() -> None:
    op.drop_index("uq_credit_transactions_hold_capture", table_name="credit_transactions")
    op.drop_table("credit_holds")
