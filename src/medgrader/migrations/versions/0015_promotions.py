"""promotions: discounts, bonus credits, credit codes and their redemptions

Revision ID: 0015
Revises: 0012
Create Date: 2026-12-05

`promotions` and `promotion_redemptions` (models.promotions: the limits are partial UNIQUE
indexes on the live uses' numbered places). A checkout session records the discount and the
promotion it came from; a session (and its payment) may now be of 0 pence (a 100 % discount,
which Stripe completes with no_payment_required). The ledger gains two sources,
PROMOTION_BONUS (one per session: a partial UNIQUE index) and PROMOTION_CODE.

Downgrade drops the tables and columns; rows of 0 pence or with the new
sources would break the former CHECKs, so it stops (MigrationRefused) if there are any.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from medgrader.db.migrate import MigrationRefused

revision: str = "0015"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_SOURCES = "'PURCHASE', 'WELCOME_BONUS', 'USAGE', 'REFUND', 'DISPUTE', 'ADMIN_ADJUSTMENT'"
NEW_SOURCES = OLD_SOURCES + ", 'PROMOTION_BONUS', 'PROMOTION_CODE'"
LIVE = "status IN ('RESERVED', 'REDEEMED')"


def upgrade() -> None:
    op.create_table(
        "promotions",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("discount_percent", sa.Integer(), nullable=True),
        sa.Column("discount_amount_pence", sa.Integer(), nullable=True),
        sa.Column("bonus_credits_percent", sa.Integer(), nullable=True),
        sa.Column("bonus_credits", sa.Integer(), nullable=True),
        sa.Column("grant_credits", sa.Integer(), nullable=True),
        sa.Column("credits_expire_days", sa.Integer(), nullable=True),
        sa.Column("package_ids", postgresql.ARRAY(sa.Uuid()), nullable=True),
        sa.Column("min_amount_pence", sa.Integer(), nullable=True),
        sa.Column(
            "first_purchase_only", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("auto_apply", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("max_redemptions", sa.Integer(), nullable=True),
        sa.Column("max_per_student", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("code ~ '^[A-Z0-9_-]{4,40}$'", name=op.f("ck_promotions_code_format")),
        sa.CheckConstraint(
            "discount_percent BETWEEN 1 AND 100", name=op.f("ck_promotions_discount_percent_range")
        ),
        sa.CheckConstraint(
            "discount_amount_pence > 0", name=op.f("ck_promotions_discount_amount_positive")
        ),
        sa.CheckConstraint(
            "discount_percent IS NULL OR discount_amount_pence IS NULL",
            name=op.f("ck_promotions_one_discount"),
        ),
        sa.CheckConstraint(
            "bonus_credits_percent BETWEEN 1 AND 500",
            name=op.f("ck_promotions_bonus_percent_range"),
        ),
        sa.CheckConstraint("bonus_credits > 0", name=op.f("ck_promotions_bonus_credits_positive")),
        sa.CheckConstraint(
            "bonus_credits_percent IS NULL OR bonus_credits IS NULL",
            name=op.f("ck_promotions_one_bonus"),
        ),
        sa.CheckConstraint("grant_credits > 0", name=op.f("ck_promotions_grant_credits_positive")),
        sa.CheckConstraint(
            "(grant_credits IS NULL) = (discount_percent IS NOT NULL"
            " OR discount_amount_pence IS NOT NULL OR bonus_credits_percent IS NOT NULL"
            " OR bonus_credits IS NOT NULL)",
            name=op.f("ck_promotions_purchase_or_credit_code"),
        ),
        sa.CheckConstraint(
            "credits_expire_days > 0", name=op.f("ck_promotions_expire_days_positive")
        ),
        sa.CheckConstraint(
            "min_amount_pence >= 0", name=op.f("ck_promotions_min_amount_nonnegative")
        ),
        sa.CheckConstraint(
            "max_redemptions > 0", name=op.f("ck_promotions_max_redemptions_positive")
        ),
        sa.CheckConstraint(
            "max_per_student > 0", name=op.f("ck_promotions_max_per_student_positive")
        ),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_promotions_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_promotions_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotions")),
        sa.UniqueConstraint("code", name=op.f("uq_promotions_code")),
    )
    op.create_index(
        "uq_promotions_one_auto_apply",
        "promotions",
        [sa.text("(true)")],
        unique=True,
        postgresql_where=sa.text("auto_apply AND active"),
    )

    op.add_column(
        "checkout_sessions",
        sa.Column("discount_pence", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column("checkout_sessions", sa.Column("promotion_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_checkout_sessions_promotion_id_promotions"),
        "checkout_sessions",
        "promotions",
        ["promotion_id"],
        ["id"],
    )
    op.drop_constraint(
        op.f("ck_checkout_sessions_amount_positive"), "checkout_sessions", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_checkout_sessions_amount_nonnegative"), "checkout_sessions", "amount_pence >= 0"
    )
    op.create_check_constraint(
        op.f("ck_checkout_sessions_discount_from_promotion"),
        "checkout_sessions",
        "discount_pence >= 0 AND (discount_pence = 0 OR promotion_id IS NOT NULL)",
    )
    op.drop_constraint(op.f("ck_payments_amount_positive"), "payments", type_="check")
    op.create_check_constraint(
        op.f("ck_payments_amount_nonnegative"), "payments", "amount_pence >= 0"
    )

    op.create_table(
        "promotion_redemptions",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("promotion_id", sa.Uuid(), nullable=False),
        sa.Column("student_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=True),
        sa.Column("student_slot", sa.Integer(), nullable=True),
        sa.Column("checkout_session_id", sa.Uuid(), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_purchase", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("package_id", sa.Uuid(), nullable=True),
        sa.Column(
            "original_amount_pence", sa.Integer(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("discount_pence", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("bonus_credits", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("granted_credits", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("bonus_taken_back", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("ledger_entry_id", sa.Uuid(), nullable=True),
        sa.Column("release_reason", sa.String(length=30), nullable=True),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "status IN ('RESERVED', 'REDEEMED', 'RELEASED')",
            name=op.f("ck_promotion_redemptions_status"),
        ),
        sa.CheckConstraint("slot > 0", name=op.f("ck_promotion_redemptions_slot_positive")),
        sa.CheckConstraint(
            "student_slot > 0", name=op.f("ck_promotion_redemptions_student_slot_positive")
        ),
        sa.CheckConstraint(
            "discount_pence >= 0", name=op.f("ck_promotion_redemptions_discount_nonnegative")
        ),
        sa.CheckConstraint(
            "bonus_credits >= 0", name=op.f("ck_promotion_redemptions_bonus_nonnegative")
        ),
        sa.CheckConstraint(
            "granted_credits >= 0", name=op.f("ck_promotion_redemptions_granted_nonnegative")
        ),
        sa.CheckConstraint(
            "bonus_taken_back BETWEEN 0 AND granted_credits",
            name=op.f("ck_promotion_redemptions_bonus_taken_back_range"),
        ),
        sa.CheckConstraint(
            "(status = 'REDEEMED') = (redeemed_at IS NOT NULL)",
            name=op.f("ck_promotion_redemptions_redeemed_at_iff_redeemed"),
        ),
        sa.ForeignKeyConstraint(
            ["promotion_id"],
            ["promotions.id"],
            name=op.f("fk_promotion_redemptions_promotion_id_promotions"),
        ),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["student_profiles.user_id"],
            name=op.f("fk_promotion_redemptions_student_id_student_profiles"),
        ),
        sa.ForeignKeyConstraint(
            ["checkout_session_id"],
            ["checkout_sessions.id"],
            name=op.f("fk_promotion_redemptions_checkout_session_id_checkout_sessions"),
        ),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["credit_packages.id"],
            name=op.f("fk_promotion_redemptions_package_id_credit_packages"),
        ),
        sa.ForeignKeyConstraint(
            ["ledger_entry_id"],
            ["credit_transactions.id"],
            name=op.f("fk_promotion_redemptions_ledger_entry_id_credit_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotion_redemptions")),
        sa.UniqueConstraint(
            "checkout_session_id", name=op.f("uq_promotion_redemptions_checkout_session_id")
        ),
        sa.UniqueConstraint(
            "ledger_entry_id", name=op.f("uq_promotion_redemptions_ledger_entry_id")
        ),
    )
    op.create_index(
        "uq_promotion_redemptions_live_slot",
        "promotion_redemptions",
        ["promotion_id", "slot"],
        unique=True,
        postgresql_where=sa.text(LIVE),
    )
    op.create_index(
        "uq_promotion_redemptions_live_student_slot",
        "promotion_redemptions",
        ["promotion_id", "student_id", "student_slot"],
        unique=True,
        postgresql_where=sa.text(LIVE),
    )
    op.create_index(
        "uq_promotion_redemptions_one_open_first_purchase",
        "promotion_redemptions",
        ["student_id"],
        unique=True,
        postgresql_where=sa.text("first_purchase AND status = 'RESERVED'"),
    )
    op.create_index(
        "ix_promotion_redemptions_student", "promotion_redemptions", ["student_id", "status"]
    )
    op.create_index(
        "ix_promotion_redemptions_promotion", "promotion_redemptions", ["promotion_id", "status"]
    )

    op.drop_constraint(
        op.f("ck_credit_transactions_source_type"), "credit_transactions", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_credit_transactions_source_type"),
        "credit_transactions",
        f"source_type IN ({NEW_SOURCES})",
    )
    op.create_index(
        "uq_credit_transactions_promotion_bonus_source",
        "credit_transactions",
        ["source_id"],
        unique=True,
        postgresql_where=sa.text("source_type = 'PROMOTION_BONUS'"),
    )


_BLOCKERS = sa.text(
    """
    SELECT (SELECT count(*) FROM credit_transactions
             WHERE source_type IN ('PROMOTION_BONUS', 'PROMOTION_CODE')) AS entries,
           (SELECT count(*) FROM checkout_sessions WHERE amount_pence = 0) AS free_sessions
    """
)


def downgrade() -> None:
    blockers = op.get_bind().execute(_BLOCKERS).one()
    if blockers.entries or blockers.free_sessions:
        raise MigrationRefused(
            f"{blockers.entries} ledger entries come from promotions and {blockers.free_sessions}"
            " checkout sessions were free: the former schema cannot hold them. Nothing was"
            " changed."
        )
    op.drop_index("uq_credit_transactions_promotion_bonus_source", table_name="credit_transactions")
    op.drop_constraint(
        op.f("ck_credit_transactions_source_type"), "credit_transactions", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_credit_transactions_source_type"),
        "credit_transactions",
        f"source_type IN ({OLD_SOURCES})",
    )
    op.drop_table("promotion_redemptions")
    op.drop_constraint(op.f("ck_payments_amount_nonnegative"), "payments", type_="check")
    op.create_check_constraint(op.f("ck_payments_amount_positive"), "payments", "amount_pence > 0")
    op.drop_constraint(
        op.f("ck_checkout_sessions_discount_from_promotion"), "checkout_sessions", type_="check"
    )
    op.drop_constraint(
        op.f("ck_checkout_sessions_amount_nonnegative"), "checkout_sessions", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_checkout_sessions_amount_positive"), "checkout_sessions", "amount_pence > 0"
    )
    op.drop_constraint(
        op.f("fk_checkout_sessions_promotion_id_promotions"),
        "checkout_sessions",
        type_="foreignkey",
    )
    op.drop_column("checkout_sessions", "promotion_id")
    op.drop_column("checkout_sessions", "discount_pence")
    op.drop_index("uq_promotions_one_auto_apply", table_name="promotions")
    op.drop_table("promotions")
