"""the spend's lot work in fewer statements: the same entries, lots and movements

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05

Issue 17's throughput bar for spends on distinct accounts (bench/spend.py): `lots_settle`
returns after the lock when nothing is due for the student (the new `lots_due(student)`, which
a reader's settle asks too), `lots_take` walks the spend order a lot at a time and writes each
lot by its key, and `ledger_post` calls `lots_apply` as an expression (it now returns true);
sql/0021_spend_speed.sql says what each one saved. No table, index or row changes, so nothing
to migrate and nothing a downgrade could refuse.

Downgrade restores the previous text (read from the files that defined it: 0013 for
lots_take, lots_apply and ledger_post, 0018 for lots_settle) and drops lots_due.
"""

from collections.abc import Sequence

from alembic import op

from medgrader.migrations.sql_files import function_text, read_sql, run_sql

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPLY = "lots_apply(credit_transactions, text, text, timestamptz, integer, bigint, text, uuid)"
# What 0021 replaces, and the file whose text the downgrade restores.
REPLACED = {
    "lots_settle": "0018_rollover.sql",
    "lots_take": "0013_lots.sql",
    "lots_apply": "0013_lots.sql",
    "ledger_post": "0013_lots.sql",
}


def previous_definitions() -> str:
    """The functions as they were before 0021 (the downgrade runs this after dropping
    lots_apply, whose return type 0021 changed; a test runs spends through both)."""
    return "\n\n".join(function_text(file, name) for name, file in REPLACED.items())


def upgrade() -> None:
    bind = op.get_bind()
    # Its return type changes (void to boolean): a replace cannot do that.
    bind.exec_driver_sql(f"DROP FUNCTION {APPLY}")
    run_sql(bind, read_sql("0021_spend_speed.sql"))


def downgrade() -> None:
    bind = op.get_bind()
    bind.exec_driver_sql(f"DROP FUNCTION {APPLY}")
    # lots_settle first: 0018's text does not call lots_due, dropped next.
    run_sql(bind, previous_definitions())
    bind.exec_driver_sql("DROP FUNCTION lots_due(uuid)")
