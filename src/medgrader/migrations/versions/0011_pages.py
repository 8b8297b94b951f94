"""pages: the audit's stored results, and indexes for the back office's ranges and exports

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-01

`audit_runs` keeps each periodic audit's result (the dashboard shows the last). The
analytics count checkout sessions by creation time, and the ledger export reads entries by
creation time: a BRIN index there costs the ledger's hot insert path next to nothing (entries
are appended in time order) and still lets a date range skip the rest of the table.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_runs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("ran_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("findings", sa.Integer(), nullable=False),
        sa.Column("details", postgresql.JSONB(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_runs")),
    )  # fmt: skip
    op.create_index(op.f("ix_audit_runs_ran_at"), "audit_runs", ["ran_at"])
    op.create_index("ix_checkout_sessions_created", "checkout_sessions", ["created_at"])
    op.create_index(
        "ix_credit_transactions_created_brin",
        "credit_transactions",
        ["created_at"],
        postgresql_using="brin",
    )


def downgrade() -> None:
    op.drop_index("ix_credit_transactions_created_brin", table_name="credit_transactions")
    op.drop_index("ix_checkout_sessions_created", table_name="checkout_sessions")
    op.drop_index(op.f("ix_audit_runs_ran_at"), table_name="audit_runs")
    op.drop_table("audit_runs")
