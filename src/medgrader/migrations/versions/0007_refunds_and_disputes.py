"""refunds and disputes: money going back, and the credits taken back for it

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

`refunds` and `disputes` mirror Stripe's objects per payment. `payments` gains the running
totals the returns function keeps under the payment's row lock (amount disputed, credits
clawed back, a version that every clawback entry's UNIQUE idempotency key carries), the
charge id, and the DISPUTE_LOST status. The inbox counts delivery attempts so that an event
whose handling failed (or that waits for a payment we do not know yet) is processed again by
Stripe's next delivery or by a replay, instead of being taken for a duplicate.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_STATUSES = "'SUCCEEDED', 'PARTIALLY_REFUNDED', 'REFUNDED', 'DISPUTED'"


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
    ]  # fmt: skip


def upgrade() -> None:
    op.add_column("payments", sa.Column("stripe_charge_id", sa.String(255), nullable=True))
    op.add_column(
        "payments",
        sa.Column("amount_disputed_pence", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column(
        "payments",
        sa.Column("credits_clawed_back", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column(
        "payments", sa.Column("returns_version", sa.Integer(), server_default="0", nullable=False)
    )
    op.drop_constraint(op.f("ck_payments_status"), "payments", type_="check")
    op.create_check_constraint(
        op.f("ck_payments_status"), "payments", f"status IN ({_OLD_STATUSES}, 'DISPUTE_LOST')"
    )
    op.create_check_constraint(
        op.f("ck_payments_dispute_within_amount"),
        "payments",
        "amount_disputed_pence BETWEEN 0 AND amount_pence",
    )
    op.create_check_constraint(
        op.f("ck_payments_clawback_within_credits"),
        "payments",
        "credits_clawed_back BETWEEN 0 AND credits",
    )
    op.create_index("ix_payments_stripe_charge_id", "payments", ["stripe_charge_id"])
    op.create_index("ix_payments_created", "payments", [sa.literal_column("created_at DESC")])
    op.create_index("ix_payments_paid_at", "payments", ["paid_at"])

    op.create_table(
        "refunds",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("stripe_refund_id", sa.String(255), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("student_id", sa.Uuid(), nullable=False),
        sa.Column("amount_pence", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(50), nullable=True),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("failure_reason", sa.String(100), nullable=True),
        sa.Column("credits_clawed_back", sa.Integer(), server_default="0", nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("stripe_created_at", sa.DateTime(timezone=True), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("amount_pence > 0", name=op.f("ck_refunds_amount_positive")),
        sa.CheckConstraint(
            "status IN ('requires_action', 'pending', 'succeeded', 'failed', 'canceled')",
            name=op.f("ck_refunds_status"),
        ),
        sa.CheckConstraint("credits_clawed_back >= 0", name=op.f("ck_refunds_share_non_negative")),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name=op.f("fk_refunds_payment_id_payments")),
        sa.ForeignKeyConstraint(["student_id"], ["student_profiles.user_id"],
                                name=op.f("fk_refunds_student_id_student_profiles")),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_refunds_actor_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("stripe_refund_id", name=op.f("uq_refunds_stripe_refund_id")),
    )  # fmt: skip
    op.create_index("ix_refunds_payment", "refunds", ["payment_id", "created_at"])
    op.create_index("ix_refunds_created", "refunds", ["created_at"])

    op.create_table(
        "disputes",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("stripe_dispute_id", sa.String(255), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("student_id", sa.Uuid(), nullable=False),
        sa.Column("amount_pence", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("reason", sa.String(50), nullable=True),
        sa.Column("funds_withdrawn_pence", sa.Integer(), server_default="0", nullable=False),
        sa.Column("balance_transaction_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("stripe_created_at", sa.DateTime(timezone=True), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("amount_pence > 0", name=op.f("ck_disputes_amount_positive")),
        sa.CheckConstraint("funds_withdrawn_pence >= 0", name=op.f("ck_disputes_withdrawn_non_negative")),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name=op.f("fk_disputes_payment_id_payments")),
        sa.ForeignKeyConstraint(["student_id"], ["student_profiles.user_id"],
                                name=op.f("fk_disputes_student_id_student_profiles")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
        sa.UniqueConstraint("stripe_dispute_id", name=op.f("uq_disputes_stripe_dispute_id")),
    )  # fmt: skip
    op.create_index("ix_disputes_payment", "disputes", ["payment_id"])
    op.create_index("ix_disputes_created", "disputes", ["created_at"])

    # The clawback and return entries of a payment, summed by the audit.
    op.create_index(
        "ix_credit_transactions_returns",
        "credit_transactions",
        ["source_id"],
        postgresql_where=sa.text("source_type IN ('REFUND', 'DISPUTE')"),
    )
    # One row per notice email recorded as sent (at most once, like receipts).
    op.create_table(
        "sent_notices",
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sent_notices")),
    )  # fmt: skip
    op.add_column(
        "webhook_events", sa.Column("attempts", sa.Integer(), server_default="1", nullable=False)
    )
    op.create_index("ix_webhook_events_received", "webhook_events", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_events_received", table_name="webhook_events")
    op.drop_column("webhook_events", "attempts")
    op.drop_table("sent_notices")
    op.drop_index("ix_credit_transactions_returns", table_name="credit_transactions")
    op.drop_table("disputes")
    op.drop_table("refunds")
    op.drop_index("ix_payments_paid_at", table_name="payments")
    op.drop_index("ix_payments_created", table_name="payments")
    op.drop_index("ix_payments_stripe_charge_id", table_name="payments")
    op.drop_constraint(op.f("ck_payments_clawback_within_credits"), "payments", type_="check")
    op.drop_constraint(op.f("ck_payments_dispute_within_amount"), "payments", type_="check")
    op.drop_constraint(op.f("ck_payments_status"), "payments", type_="check")
    op.execute("UPDATE payments SET status = 'DISPUTED' WHERE status = 'DISPUTE_LOST'")
    op.create_check_constraint(
        op.f("ck_payments_status"), "payments", f"status IN ({_OLD_STATUSES})"
    )
    for column in (
        "returns_version",
        "credits_clawed_back",
        "amount_disputed_pence",
        "stripe_charge_id",
    ):
        op.drop_column("payments", column)  # fmt: skip
