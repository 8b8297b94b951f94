"""subscription rollover: a period's lot moves up to rolloverMaxCredits on when it expires

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05

The ledger source ROLLOVER and the lot movement kind ROLLOVER (their CHECKs), a partial UNIQUE
index on (source_id, entry_type) of ROLLOVER entries (one DEBIT out of, one CREDIT after, each
period's lot: exactly once, invariant 13), and the writer's SQL (sql/0018_rollover.sql): the
new `lots_rollover`, and `lots_settle` / `lots_claw` replaced by versions that call it / take a
refund from the rolled-over credits after the period's own lot.

Downgrade restores 0013's `lots_settle` and `lots_claw` (read from sql/0013_lots.sql) and the
former CHECKs; ROLLOVER entries would break those, so it stops (MigrationRefused) if any exist.
"""

import re
from collections.abc import Sequence
from importlib import resources

import sqlalchemy as sa
from alembic import op

from medgrader.db.migrate import MigrationRefused

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The sources and movement kinds as revision 0017 (and 0013) left them.
OLD_SOURCES = (
    "'PURCHASE', 'WELCOME_BONUS', 'USAGE', 'REFUND', 'DISPUTE', 'ADMIN_ADJUSTMENT',"
    " 'PROMOTION_BONUS', 'PROMOTION_CODE', 'EXPIRY', 'TOP_UP', 'SUBSCRIPTION'"
)
NEW_SOURCES = OLD_SOURCES + ", 'ROLLOVER'"
OLD_KINDS = "'USE', 'ADJUSTMENT', 'CLAWBACK', 'EXPIRY'"
NEW_KINDS = OLD_KINDS + ", 'ROLLOVER'"
INDEX = "uq_credit_transactions_rollover_source"
# 0013 named its CHECK on the kind with the naming convention applied to a full name; from
# here on it has the name the model (models.lots, one_of) gives it.
KIND_0013 = "ck_lot_movements_ck_lot_movements_kind"
KIND = "ck_lot_movements_kind"


def _sql(name: str) -> str:
    # exec_driver_sql formats with psycopg even without parameters: RAISE's % doubled.
    return (resources.files("medgrader.migrations") / "sql" / name).read_text().replace("%", "%%")


def _function_of_0013(name: str) -> str:
    """0013's own text of one function, as CREATE OR REPLACE (the downgrade's restore)."""
    found = re.search(
        rf"^CREATE FUNCTION {name}\(.*?^END \$\$;", _sql("0013_lots.sql"), re.S | re.M
    )
    if found is None:
        raise RuntimeError(f"{name} not found in sql/0013_lots.sql")
    return found.group(0).replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def _checks(sources: str, kinds: str, drop_kind: str, kind_name: str) -> None:
    op.drop_constraint(
        op.f("ck_credit_transactions_source_type"), "credit_transactions", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_credit_transactions_source_type"),
        "credit_transactions",
        f"source_type IN ({sources})",
    )
    op.drop_constraint(op.f(drop_kind), "lot_movements", type_="check")
    op.create_check_constraint(op.f(kind_name), "lot_movements", f"kind IN ({kinds})")


def upgrade() -> None:
    _checks(NEW_SOURCES, NEW_KINDS, KIND_0013, KIND)
    op.create_index(
        INDEX,
        "credit_transactions",
        ["source_id", "entry_type"],
        unique=True,
        postgresql_where=sa.text("source_type = 'ROLLOVER'"),
    )
    op.get_bind().exec_driver_sql(_sql("0018_rollover.sql"))


def downgrade() -> None:
    bind = op.get_bind()
    rolled = bind.execute(
        sa.text("SELECT count(*) FROM credit_transactions WHERE source_type = 'ROLLOVER'")
    ).scalar_one()
    if rolled:
        raise MigrationRefused(
            f"{rolled} ROLLOVER entries exist; revision 0017's CHECK forbids them. Nothing was"
            " changed."
        )
    bind.exec_driver_sql(_function_of_0013("lots_settle"))
    bind.exec_driver_sql(_function_of_0013("lots_claw"))
    bind.exec_driver_sql("DROP FUNCTION lots_rollover(uuid, bigint)")
    op.drop_index(INDEX, table_name="credit_transactions")
    _checks(OLD_SOURCES, OLD_KINDS, KIND, KIND_0013)
