"""credit lots: where each credit came from, what took it, when it expires, what it is worth

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05

Tables `credit_lots`, `lot_movements`, `lot_reservations`, `credit_debts` (models.lots), the
EXPIRY source type with a partial UNIQUE index on its source_id (one EXPIRY entry per lot, and
one per hold giving credits back to an expired lot: a database rule), packages'
`validity_days`, and the writer: the SQL functions of sql/0013_lots.sql (`ledger_post` and the
`lots_*` functions, called only by ledger.service and the holds' statements).

Then the data: every existing entry is replayed in order into lots (sql/0013_replay.sql). No
balance changes (no entry is written); a migrated welcome bonus expires
WELCOME_BONUS_EXPIRES_DAYS (default 90, 0 never) after the migration runs, so nothing a student
holds today expires because of it.

Downgrade drops all of it; it refuses while EXPIRY entries exist (the old CHECK forbids them).
"""

import os
from collections.abc import Sequence
from importlib import resources
from typing import Any

import sqlalchemy as sa
from alembic import op

from medgrader.db.migrate import MigrationRefused

revision: str = "0013"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The sources as revision 0015 (promotions, which comes before this one) left them.
_OLD_SOURCES = (
    "'PURCHASE', 'WELCOME_BONUS', 'USAGE', 'REFUND', 'DISPUTE', 'ADMIN_ADJUSTMENT',"
    " 'PROMOTION_BONUS', 'PROMOTION_CODE'"
)
_FUNCTIONS = (
    "ledger_post(uuid, text, bigint, bigint, boolean, text, text, text, jsonb, text, uuid, text,"
    " text, timestamptz, integer, bigint, text, uuid)",
    "lots_apply(credit_transactions, text, text, timestamptz, integer, bigint, text, uuid)",
    "lots_give_back(credit_transactions)",
    "lots_claw(credit_transactions)",
    "lots_purchase_lot(text)",
    "lots_consume_hold(uuid, uuid, bigint)",
    "lots_sync_hold(uuid)",
    "lots_reserve(uuid, uuid, bigint)",
    "lots_sweep(integer)",
    "lots_settle(uuid)",
    "lots_return_hold(uuid)",
    "lots_pay_debts(uuid, uuid)",
    "lots_expire(uuid, bigint, text)",
    "ledger_write(uuid, text, bigint, bigint, text, text, text, jsonb, text, uuid)",
    "lots_take(uuid, uuid, text, bigint, uuid)",
    "lots_free_in_spend_order(uuid, uuid)",
    "lot_value_out(bigint, bigint, bigint, bigint)",
)


def _sql(name: str) -> str:
    # exec_driver_sql formats with psycopg even without parameters: RAISE's % doubled.
    return (resources.files("medgrader.migrations") / "sql" / name).read_text().replace("%", "%%")


def _welcome_days() -> int:
    return int(os.environ.get("WELCOME_BONUS_EXPIRES_DAYS", "90"))


def upgrade() -> None:
    op.add_column("credit_packages", sa.Column("validity_days", sa.Integer(), nullable=True))
    op.create_check_constraint(
        op.f("ck_credit_packages_validity_days_range"),
        "credit_packages",
        "validity_days BETWEEN 1 AND 3650",
    )
    op.drop_constraint(
        op.f("ck_credit_transactions_source_type"), "credit_transactions", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_credit_transactions_source_type"),
        "credit_transactions",
        f"source_type IN ({_OLD_SOURCES}, 'EXPIRY')",
    )
    op.create_index(
        "uq_credit_transactions_expiry_source",
        "credit_transactions",
        ["source_id"],
        unique=True,
        postgresql_where=sa.text("source_type = 'EXPIRY'"),
    )
    _create_tables()
    bind = op.get_bind()
    bind.exec_driver_sql(_sql("0013_lots.sql"))
    bind.exec_driver_sql(_sql("0013_replay.sql"))
    bind.execute(sa.text("SELECT lots_replay(:days)"), {"days": _welcome_days()})
    bind.exec_driver_sql("DROP FUNCTION lots_replay(integer)")


def _fk(column: str, table: str) -> sa.Column[Any]:
    """A NOT NULL uuid column referencing `table`.id (RESTRICT), its constraint named by the
    models' convention (fk_<table>_<column>_<referred>) once the column joins its table."""
    return sa.Column(column, sa.Uuid(), sa.ForeignKey(f"{table}.id", ondelete="RESTRICT"),
                     nullable=False)  # fmt: skip


def _uuid_pk() -> sa.Column[Any]:
    """A table's `id` column (a Column joins one table only: one per call)."""
    return sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"))


def _create_tables() -> None:
    op.create_table(
        "credit_lots",
        _uuid_pk(),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        _fk("student_id", "users"),
        _fk("entry_id", "credit_transactions"),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("source", sa.String(30), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=False),
        sa.Column("reserved", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("swept", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("priority", sa.SmallInteger(), server_default=sa.text("50"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("value_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("origin_movement_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name="pk_credit_lots"),
        sa.UniqueConstraint("seq", name="uq_credit_lots_seq"),
        sa.CheckConstraint("kind IN ('PAID', 'GRANTED')", name="ck_credit_lots_kind"),
        sa.CheckConstraint("amount > 0", name="ck_credit_lots_amount_positive"),
        sa.CheckConstraint(
            "reserved >= 0 AND reserved <= remaining AND remaining <= amount",
            name="ck_credit_lots_remaining_range",
        ),
        sa.CheckConstraint("priority BETWEEN 0 AND 100", name="ck_credit_lots_priority_range"),
        sa.CheckConstraint(
            "(value_minor IS NULL) = (currency IS NULL)"
            " AND (value_minor IS NULL OR value_minor >= 0)"
            " AND (kind = 'PAID' OR value_minor IS NULL)",
            name="ck_credit_lots_value",
        ),
    )
    op.create_index(
        "ix_credit_lots_spend_order",
        "credit_lots",
        ["student_id", "priority", "expires_at", sa.text("(kind = 'PAID')"), "seq"],
    )
    op.create_index(
        "ix_credit_lots_due",
        "credit_lots",
        ["expires_at"],
        postgresql_where=sa.text("expires_at IS NOT NULL AND NOT swept"),
    )
    op.create_index(
        "ix_credit_lots_student_seq", "credit_lots", ["student_id", sa.text("seq DESC")]
    )
    op.create_index("ix_credit_lots_entry_id", "credit_lots", ["entry_id"])
    op.create_index("ix_credit_lots_origin_movement_id", "credit_lots", ["origin_movement_id"])
    op.create_table(
        "lot_movements",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        _fk("lot_id", "credit_lots"),
        _fk("entry_id", "credit_transactions"),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("credits", sa.BigInteger(), nullable=False),
        sa.Column("value_minor", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name="pk_lot_movements"),
        sa.CheckConstraint(
            "kind IN ('USE', 'ADJUSTMENT', 'CLAWBACK', 'EXPIRY')", name="ck_lot_movements_kind"
        ),
        sa.CheckConstraint("credits > 0", name="ck_lot_movements_credits_positive"),
        sa.CheckConstraint(
            "value_minor IS NULL OR value_minor >= 0", name="ck_lot_movements_value_positive"
        ),
    )
    op.create_index("ix_lot_movements_lot_id", "lot_movements", ["lot_id"])
    op.create_index("ix_lot_movements_entry_id", "lot_movements", ["entry_id"])
    op.create_index(
        "ix_lot_movements_created_brin", "lot_movements", ["created_at"], postgresql_using="brin"
    )
    op.create_foreign_key(
        op.f("fk_credit_lots_origin_movement_id_lot_movements"),
        "credit_lots",
        "lot_movements",
        ["origin_movement_id"],
        ["id"],
    )
    op.create_table(
        "lot_reservations",
        _fk("hold_id", "credit_holds"),
        _fk("lot_id", "credit_lots"),
        sa.Column("credits", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("hold_id", "lot_id", name="pk_lot_reservations"),
        sa.CheckConstraint("credits >= 0", name="ck_lot_reservations_credits_not_negative"),
    )
    op.create_table(
        "credit_debts",
        _uuid_pk(),
        _fk("student_id", "users"),
        _fk("entry_id", "credit_transactions"),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name="pk_credit_debts"),
        sa.UniqueConstraint("entry_id", name="uq_credit_debts_entry_id"),
        sa.CheckConstraint(
            "amount > 0 AND remaining >= 0 AND remaining <= amount", name="ck_credit_debts_range"
        ),
    )
    op.create_index(
        "ix_credit_debts_open",
        "credit_debts",
        ["student_id"],
        postgresql_where=sa.text("remaining > 0"),
    )


def downgrade() -> None:
    bind = op.get_bind()
    expired = bind.execute(
        sa.text("SELECT count(*) FROM credit_transactions WHERE source_type = 'EXPIRY'")
    ).scalar_one()
    if expired:
        raise MigrationRefused(
            f"{expired} EXPIRY entries exist; revision 0012's CHECK forbids them. Nothing was"
            " changed."
        )
    for signature in _FUNCTIONS:
        bind.exec_driver_sql(f"DROP FUNCTION {signature}")
    op.drop_constraint(
        op.f("fk_credit_lots_origin_movement_id_lot_movements"), "credit_lots", type_="foreignkey"
    )
    op.drop_table("credit_debts")
    op.drop_table("lot_reservations")
    op.drop_table("lot_movements")
    op.drop_table("credit_lots")
    op.drop_index("uq_credit_transactions_expiry_source", table_name="credit_transactions")
    op.drop_constraint(
        op.f("ck_credit_transactions_source_type"), "credit_transactions", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_credit_transactions_source_type"),
        "credit_transactions",
        f"source_type IN ({_OLD_SOURCES})",
    )
    op.drop_constraint(
        op.f("ck_credit_packages_validity_days_range"), "credit_packages", type_="check"
    )
    op.drop_column("credit_packages", "validity_days")
