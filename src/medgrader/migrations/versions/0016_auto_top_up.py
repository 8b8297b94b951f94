"""automatic top-up: settings, attempts (one in flight per student), top-up payments

Revision ID: 0016
Revises: 0013
Create Date: 2026-12-05

`auto_top_up_settings` (one row per student) and `auto_top_up_attempts`, whose partial UNIQUE
index on the attempts in flight (QUEUED, PROCESSING) is the database's guard that however many
debits cross the threshold at once, one attempt is queued. A Payment may now come from an
attempt instead of a Checkout Session (`payments.top_up_attempt_id`, UNIQUE; the two checkout
columns become nullable, a CHECK keeps exactly one source). Ledger entries gain the source
type TOP_UP, with one entry per attempt (partial UNIQUE index on source_id); its credits are a
PAID lot of source TOP_UP (credit_lots.source has no CHECK). `lots_purchase_lot` (0013) also
finds a top-up payment's lot (through its attempt), so a top-up's refund claws from its own
lot first, as a purchase's does.

Downgrade refuses nothing but loses the top-up payments' rows only if none exist: it drops the
tables and the columns, and fails on NOT NULL if top-up payments are present (decide first).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The sources as revision 0013 (lots, the head before this one) left them.
SOURCES = (
    "'PURCHASE', 'WELCOME_BONUS', 'USAGE', 'REFUND', 'DISPUTE', 'ADMIN_ADJUSTMENT',"
    " 'PROMOTION_BONUS', 'PROMOTION_CODE', 'EXPIRY'"
)
# The lot a payment's credit created: a purchase's (by its Checkout Session) or, from this
# revision on, a top-up's (by its attempt). {top_up} is empty for 0013's version.
_PURCHASE_LOT = """
CREATE OR REPLACE FUNCTION lots_purchase_lot(p_payment text) RETURNS credit_lots
LANGUAGE sql STABLE AS $$
    SELECT l.*
      FROM payments p
      JOIN credit_transactions t
        ON (t.source_type = 'PURCHASE' AND t.source_id = p.stripe_checkout_session_id){top_up}
      JOIN credit_lots l ON l.entry_id = t.id
     WHERE p.id::text = p_payment
     LIMIT 1
$$;
"""
_TOP_UP_JOIN = "\n        OR (t.source_type = 'TOP_UP' AND t.source_id = p.top_up_attempt_id::text)"
IN_FLIGHT = "status IN ('QUEUED', 'PROCESSING')"


def _timestamps() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "auto_top_up_settings",
        sa.Column("student_id", sa.Uuid(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("threshold_credits", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.Uuid(), nullable=False),
        sa.Column("monthly_limit_pence", sa.Integer(), nullable=False),
        sa.Column("payment_method_id", sa.String(length=255), nullable=True),
        sa.Column("card_fingerprint", sa.String(length=100), nullable=True),
        sa.Column("card_brand", sa.String(length=30), nullable=True),
        sa.Column("card_last4", sa.String(length=4), nullable=True),
        sa.Column("card_exp_month", sa.Integer(), nullable=True),
        sa.Column("card_exp_year", sa.Integer(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("suspended_reason", sa.String(length=100), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "threshold_credits BETWEEN 0 AND 100000", name=op.f("ck_auto_top_up_settings_threshold")
        ),
        sa.CheckConstraint(
            "monthly_limit_pence > 0", name=op.f("ck_auto_top_up_settings_monthly_limit_positive")
        ),
        sa.CheckConstraint(
            "consecutive_failures >= 0", name=op.f("ck_auto_top_up_settings_failures_non_negative")
        ),
        sa.CheckConstraint(
            "NOT enabled OR payment_method_id IS NOT NULL",
            name=op.f("ck_auto_top_up_settings_enabled_has_card"),
        ),
        sa.CheckConstraint(
            "(suspended_at IS NULL) = (suspended_reason IS NULL)",
            name=op.f("ck_auto_top_up_settings_suspended_has_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["student_profiles.user_id"],
            name=op.f("fk_auto_top_up_settings_student_id_student_profiles"),
        ),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["credit_packages.id"],
            name=op.f("fk_auto_top_up_settings_package_id_credit_packages"),
        ),
        sa.PrimaryKeyConstraint("student_id", name=op.f("pk_auto_top_up_settings")),
    )
    op.create_table(
        "auto_top_up_attempts",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("student_id", sa.Uuid(), nullable=False),
        sa.Column("package_id", sa.Uuid(), nullable=False),
        sa.Column("package_name", sa.String(length=100), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("amount_pence", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("payment_method_id", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="QUEUED", nullable=False),
        sa.Column("stripe_payment_intent_id", sa.String(length=255), nullable=True),
        sa.Column("failure_code", sa.String(length=100), nullable=True),
        sa.Column("decline_code", sa.String(length=100), nullable=True),
        sa.Column("failure_message", sa.String(length=500), nullable=True),
        sa.Column("recovery_session_id", sa.String(length=255), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "status IN ('QUEUED', 'PROCESSING', 'SUCCEEDED', 'FAILED', 'CANCELED')",
            name=op.f("ck_auto_top_up_attempts_status"),
        ),
        sa.CheckConstraint(
            "amount_pence > 0", name=op.f("ck_auto_top_up_attempts_amount_positive")
        ),
        sa.CheckConstraint("credits > 0", name=op.f("ck_auto_top_up_attempts_credits_positive")),
        sa.CheckConstraint(
            f"({IN_FLIGHT}) = (finished_at IS NULL)",
            name=op.f("ck_auto_top_up_attempts_finished_iff_done"),
        ),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["student_profiles.user_id"],
            name=op.f("fk_auto_top_up_attempts_student_id_student_profiles"),
        ),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["credit_packages.id"],
            name=op.f("fk_auto_top_up_attempts_package_id_credit_packages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auto_top_up_attempts")),
        sa.UniqueConstraint(
            "stripe_payment_intent_id",
            name=op.f("uq_auto_top_up_attempts_stripe_payment_intent_id"),
        ),
        sa.UniqueConstraint(
            "recovery_session_id", name=op.f("uq_auto_top_up_attempts_recovery_session_id")
        ),
    )
    op.create_index(
        "uq_auto_top_up_attempts_in_flight",
        "auto_top_up_attempts",
        ["student_id"],
        unique=True,
        postgresql_where=sa.text(IN_FLIGHT),
    )
    op.create_index(
        "ix_auto_top_up_attempts_student_created",
        "auto_top_up_attempts",
        ["student_id", sa.literal_column("created_at DESC")],
    )
    op.create_index(
        "ix_auto_top_up_attempts_in_flight_updated",
        "auto_top_up_attempts",
        ["updated_at"],
        postgresql_where=sa.text(IN_FLIGHT),
    )

    op.add_column("payments", sa.Column("top_up_attempt_id", sa.Uuid(), nullable=True))
    op.create_unique_constraint(
        op.f("uq_payments_top_up_attempt_id"), "payments", ["top_up_attempt_id"]
    )
    op.create_foreign_key(
        op.f("fk_payments_top_up_attempt_id_auto_top_up_attempts"),
        "payments",
        "auto_top_up_attempts",
        ["top_up_attempt_id"],
        ["id"],
    )
    op.alter_column("payments", "checkout_session_id", nullable=True)
    op.alter_column("payments", "stripe_checkout_session_id", nullable=True)
    op.create_check_constraint(
        op.f("ck_payments_one_source"),
        "payments",
        "(checkout_session_id IS NULL) <> (top_up_attempt_id IS NULL)"
        " AND (checkout_session_id IS NULL) = (stripe_checkout_session_id IS NULL)",
    )

    op.drop_constraint(op.f("ck_credit_transactions_source_type"), "credit_transactions")
    op.create_check_constraint(
        op.f("ck_credit_transactions_source_type"),
        "credit_transactions",
        f"source_type IN ({SOURCES}, 'TOP_UP')",
    )
    op.create_index(
        "uq_credit_transactions_top_up_source",
        "credit_transactions",
        ["source_id"],
        unique=True,
        postgresql_where=sa.text("source_type = 'TOP_UP'"),
    )
    op.get_bind().exec_driver_sql(_PURCHASE_LOT.format(top_up=_TOP_UP_JOIN))


def downgrade() -> None:
    op.get_bind().exec_driver_sql(_PURCHASE_LOT.format(top_up=""))
    op.drop_index("uq_credit_transactions_top_up_source", table_name="credit_transactions")
    op.drop_constraint(op.f("ck_credit_transactions_source_type"), "credit_transactions")
    op.create_check_constraint(
        op.f("ck_credit_transactions_source_type"),
        "credit_transactions",
        f"source_type IN ({SOURCES})",
    )
    op.drop_constraint(op.f("ck_payments_one_source"), "payments")
    op.alter_column("payments", "stripe_checkout_session_id", nullable=False)
    op.alter_column("payments", "checkout_session_id", nullable=False)
    op.drop_constraint(
        op.f("fk_payments_top_up_attempt_id_auto_top_up_attempts"), "payments", type_="foreignkey"
    )
    op.drop_constraint(op.f("uq_payments_top_up_attempt_id"), "payments", type_="unique")
    op.drop_column("payments", "top_up_attempt_id")
    op.drop_table("auto_top_up_attempts")
    op.drop_table("auto_top_up_settings")
