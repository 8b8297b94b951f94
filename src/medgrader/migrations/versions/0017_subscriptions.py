"""subscriptions: credit plans, students' subscriptions and each paid period

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05

`plans` (a Stripe Product and recurring Price each), `subscriptions` (one live per student:
a partial UNIQUE index) and `subscription_invoices` (UNIQUE stripe_invoice_id: a paid period's
credits exactly once, invariant 13). The ledger gains the source SUBSCRIPTION (one entry per
invoice: a partial UNIQUE index on source_id). A Payment may now be a subscription invoice's
(type SUBSCRIPTION, with its UNIQUE stripe_invoice_id and no Checkout Session): the lots'
`lots_purchase_lot` (migration 0013) also finds such a payment's lot, its SUBSCRIPTION entry by
the invoice, so a refund or a lost dispute claws back from that period's own lot first.

Downgrade drops them; subscription payments or SUBSCRIPTION entries would break the former
CHECKs, so it stops (MigrationRefused) if there are any.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from medgrader.db.migrate import MigrationRefused

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The sources as revision 0016 (automatic top-up, the head before this one) left them.
OLD_SOURCES = (
    "'PURCHASE', 'WELCOME_BONUS', 'USAGE', 'REFUND', 'DISPUTE', 'ADMIN_ADJUSTMENT',"
    " 'PROMOTION_BONUS', 'PROMOTION_CODE', 'EXPIRY', 'TOP_UP'"
)
NEW_SOURCES = OLD_SOURCES + ", 'SUBSCRIPTION'"
LIVE = "status IN ('INCOMPLETE', 'ACTIVE', 'PAST_DUE')"
TYPE_HAS_ITS_SOURCE = (
    "(type = 'CREDITS' AND stripe_invoice_id IS NULL)"
    " OR (type = 'SUBSCRIPTION' AND stripe_invoice_id IS NOT NULL)"
)
# A payment's one source: a Checkout Session (with both its ids), a top-up attempt (0016) or,
# from this revision on, a subscription invoice. ONE_SOURCE_BEFORE is 0016's.
ONE_SOURCE = (
    "num_nonnulls(checkout_session_id, top_up_attempt_id, stripe_invoice_id) = 1"
    " AND (checkout_session_id IS NULL) = (stripe_checkout_session_id IS NULL)"
)
ONE_SOURCE_BEFORE = (
    "(checkout_session_id IS NULL) <> (top_up_attempt_id IS NULL)"
    " AND (checkout_session_id IS NULL) = (stripe_checkout_session_id IS NULL)"
)


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


# The lot a payment created: a purchase's by its Checkout Session (as migration 0013 has it),
# a top-up's by its attempt (as 0016 has it), a subscription payment's by its invoice (it has
# no Checkout Session). _PURCHASE_LOT_BEFORE is 0016's version, restored by the downgrade.
_PURCHASE_LOT = """
CREATE OR REPLACE FUNCTION lots_purchase_lot(p_payment text) RETURNS credit_lots
LANGUAGE sql STABLE AS $$
    SELECT l.*
      FROM payments p
      JOIN credit_transactions t
        ON (t.source_type = 'PURCHASE' AND t.source_id = p.stripe_checkout_session_id)
        OR (t.source_type = 'TOP_UP' AND t.source_id = p.top_up_attempt_id::text)
        OR (t.source_type = 'SUBSCRIPTION' AND t.source_id = p.stripe_invoice_id)
      JOIN credit_lots l ON l.entry_id = t.id
     WHERE p.id::text = p_payment
     LIMIT 1
$$
"""
_PURCHASE_LOT_BEFORE = """
CREATE OR REPLACE FUNCTION lots_purchase_lot(p_payment text) RETURNS credit_lots
LANGUAGE sql STABLE AS $$
    SELECT l.*
      FROM payments p
      JOIN credit_transactions t
        ON (t.source_type = 'PURCHASE' AND t.source_id = p.stripe_checkout_session_id)
        OR (t.source_type = 'TOP_UP' AND t.source_id = p.top_up_attempt_id::text)
      JOIN credit_lots l ON l.entry_id = t.id
     WHERE p.id::text = p_payment
     LIMIT 1
$$
"""


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("credits_per_period", sa.Integer(), nullable=False),
        sa.Column("price_pence", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), server_default="GBP", nullable=False),
        sa.Column("interval", sa.String(length=10), nullable=False),
        sa.Column("rollover_max_credits", sa.Integer(), server_default="0", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("stripe_product_id", sa.String(length=255), nullable=False),
        sa.Column("stripe_price_id", sa.String(length=255), nullable=False),
        *_timestamps(),
        sa.CheckConstraint(
            "char_length(name) BETWEEN 1 AND 100", name=op.f("ck_plans_name_length")
        ),
        sa.CheckConstraint(
            "credits_per_period BETWEEN 1 AND 100000", name=op.f("ck_plans_credits_range")
        ),
        sa.CheckConstraint(
            "price_pence BETWEEN 30 AND 10000000", name=op.f("ck_plans_price_range")
        ),
        sa.CheckConstraint(
            "rollover_max_credits BETWEEN 0 AND credits_per_period",
            name=op.f("ck_plans_rollover_range"),
        ),
        sa.CheckConstraint("interval IN ('month', 'year')", name=op.f("ck_plans_interval")),
        sa.CheckConstraint("currency = 'GBP'", name=op.f("ck_plans_currency_gbp")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        sa.UniqueConstraint("stripe_product_id", name=op.f("uq_plans_stripe_product_id")),
        sa.UniqueConstraint("stripe_price_id", name=op.f("uq_plans_stripe_price_id")),
    )
    op.create_index("uq_plans_name_lower", "plans", [sa.text("lower(name)")], unique=True)

    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("student_id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("next_plan_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=20), server_default="INCOMPLETE", nullable=False),
        sa.Column("stripe_checkout_session_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_subscription_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=True),
        sa.Column("current_period_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("canceled_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "status IN ('INCOMPLETE', 'ACTIVE', 'PAST_DUE', 'CANCELED')",
            name=op.f("ck_subscriptions_status"),
        ),
        sa.ForeignKeyConstraint(
            ["student_id"], ["student_profiles.user_id"],
            name=op.f("fk_subscriptions_student_id_student_profiles"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_subscriptions_plan_id_plans")
        ),
        sa.ForeignKeyConstraint(
            ["next_plan_id"], ["plans.id"], name=op.f("fk_subscriptions_next_plan_id_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint(
            "stripe_checkout_session_id", name=op.f("uq_subscriptions_stripe_checkout_session_id")
        ),
        sa.UniqueConstraint(
            "stripe_subscription_id", name=op.f("uq_subscriptions_stripe_subscription_id")
        ),
    )  # fmt: skip
    op.create_index(
        "uq_subscriptions_one_live_per_student",
        "subscriptions",
        ["student_id"],
        unique=True,
        postgresql_where=sa.text(LIVE),
    )
    op.create_index(
        "ix_subscriptions_student_created",
        "subscriptions",
        ["student_id", sa.text("created_at DESC")],
    )
    op.create_index("ix_subscriptions_plan", "subscriptions", ["plan_id"])

    op.add_column("payments", sa.Column("stripe_invoice_id", sa.String(length=255), nullable=True))
    op.add_column(
        "payments", sa.Column("stripe_subscription_id", sa.String(length=255), nullable=True)
    )
    op.create_unique_constraint(
        op.f("uq_payments_stripe_invoice_id"), "payments", ["stripe_invoice_id"]
    )
    # Already nullable since 0016 (a top-up has no Checkout Session); DROP NOT NULL is a no-op.
    op.alter_column("payments", "checkout_session_id", nullable=True)
    op.alter_column("payments", "stripe_checkout_session_id", nullable=True)
    op.drop_constraint(op.f("ck_payments_one_source"), "payments", type_="check")
    op.create_check_constraint(op.f("ck_payments_one_source"), "payments", ONE_SOURCE)
    op.drop_constraint(op.f("ck_payments_type"), "payments", type_="check")
    op.create_check_constraint(
        op.f("ck_payments_type"), "payments", "type IN ('CREDITS', 'SUBSCRIPTION')"
    )
    op.create_check_constraint(
        op.f("ck_payments_type_has_its_source"), "payments", TYPE_HAS_ITS_SOURCE
    )

    op.create_table(
        "subscription_invoices",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("stripe_invoice_id", sa.String(length=255), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("student_id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("stripe_subscription_id", sa.String(length=255), nullable=False),
        sa.Column("billing_reason", sa.String(length=40), nullable=False),
        sa.Column("amount_paid_pence", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value_pence", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("credits > 0", name=op.f("ck_subscription_invoices_credits_positive")),
        sa.CheckConstraint(
            "amount_paid_pence >= 0", name=op.f("ck_subscription_invoices_amount_nonnegative")
        ),
        sa.CheckConstraint(
            "period_end > period_start", name=op.f("ck_subscription_invoices_period_order")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"], ["subscriptions.id"],
            name=op.f("fk_subscription_invoices_subscription_id_subscriptions"),
        ),
        sa.ForeignKeyConstraint(
            ["student_id"], ["student_profiles.user_id"],
            name=op.f("fk_subscription_invoices_student_id_student_profiles"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_subscription_invoices_plan_id_plans")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"],
            name=op.f("fk_subscription_invoices_payment_id_payments"),
            deferrable=True, initially="DEFERRED",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_invoices")),
        sa.UniqueConstraint(
            "stripe_invoice_id", name=op.f("uq_subscription_invoices_stripe_invoice_id")
        ),
        sa.UniqueConstraint("payment_id", name=op.f("uq_subscription_invoices_payment_id")),
    )  # fmt: skip
    op.create_index(
        "ix_subscription_invoices_subscription",
        "subscription_invoices",
        ["subscription_id", "period_start"],
    )
    op.create_index("ix_subscription_invoices_paid_at", "subscription_invoices", ["paid_at"])

    op.drop_constraint(
        op.f("ck_credit_transactions_source_type"), "credit_transactions", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_credit_transactions_source_type"),
        "credit_transactions",
        f"source_type IN ({NEW_SOURCES})",
    )
    op.create_index(
        "uq_credit_transactions_subscription_source",
        "credit_transactions",
        ["source_id"],
        unique=True,
        postgresql_where=sa.text("source_type = 'SUBSCRIPTION'"),
    )
    op.execute(_PURCHASE_LOT)


_BLOCKERS = sa.text(
    """
    SELECT (SELECT count(*) FROM credit_transactions WHERE source_type = 'SUBSCRIPTION')
           + (SELECT count(*) FROM payments WHERE type = 'SUBSCRIPTION') AS rows
    """
)


def downgrade() -> None:
    if op.get_bind().execute(_BLOCKERS).scalar_one():
        raise MigrationRefused(
            "subscription payments or ledger entries exist: the former schema cannot hold"
            " them. Nothing was changed."
        )
    op.execute(_PURCHASE_LOT_BEFORE)
    op.drop_index("uq_credit_transactions_subscription_source", table_name="credit_transactions")
    op.drop_constraint(
        op.f("ck_credit_transactions_source_type"), "credit_transactions", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_credit_transactions_source_type"),
        "credit_transactions",
        f"source_type IN ({OLD_SOURCES})",
    )
    op.drop_table("subscription_invoices")
    op.drop_constraint(op.f("ck_payments_type_has_its_source"), "payments", type_="check")
    op.drop_constraint(op.f("ck_payments_type"), "payments", type_="check")
    op.create_check_constraint(op.f("ck_payments_type"), "payments", "type IN ('CREDITS')")
    # The columns stay nullable (0016's schema: a top-up payment has no Checkout Session).
    op.drop_constraint(op.f("ck_payments_one_source"), "payments", type_="check")
    op.create_check_constraint(op.f("ck_payments_one_source"), "payments", ONE_SOURCE_BEFORE)
    op.drop_constraint(op.f("uq_payments_stripe_invoice_id"), "payments", type_="unique")
    op.drop_column("payments", "stripe_subscription_id")
    op.drop_column("payments", "stripe_invoice_id")
    op.drop_table("subscriptions")
    op.drop_table("plans")
