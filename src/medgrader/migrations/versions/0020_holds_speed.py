"""holds' lot work in fewer statements: the same reservations, movements and EXPIRY entries

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05

Issue 17's throughput bar for holds (bench/holds.py): `lots_reserve`, `lots_sync_hold`,
`lots_return_hold` and `lots_consume_hold` (migration 0013) are replaced by versions that do
the same lot work in fewer and simpler statements (sql/0020_holds_speed.sql says what each
one saved), and `lots_pay_debts_if_any(student)` is new: an index probe before
lots_pay_debts. No table, index or row changes, so nothing to migrate and nothing a
downgrade could refuse.

Downgrade restores 0013's text of the four functions, read from sql/0013_lots.sql itself,
and drops the new one.
"""

import re
from collections.abc import Sequence
from importlib import resources
from typing import Any

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REPLACED = ("lots_reserve", "lots_sync_hold", "lots_return_hold", "lots_consume_hold")
ADDED = ("lots_pay_debts_if_any(uuid)",)


def _read(name: str) -> str:
    return (resources.files("medgrader.migrations") / "sql" / name).read_text()


def _run(bind: Any, sql: str) -> None:
    # exec_driver_sql formats with psycopg even without parameters: RAISE's % doubled.
    bind.exec_driver_sql(sql.replace("%", "%%"))


def definitions_0013(names: Sequence[str]) -> str:
    """0013's CREATE FUNCTION statements of `names`, as CREATE OR REPLACE (the downgrade
    runs them; a test runs the holds through them and through 0020's and compares)."""
    text = _read("0013_lots.sql")
    found = []
    for name in names:
        match = re.search(rf"^CREATE FUNCTION {name}\(.*?^END \$\$;$", text, re.S | re.M)
        if match is None:
            raise LookupError(f"sql/0013_lots.sql has no plpgsql function {name}")
        found.append(match.group(0).replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    return "\n\n".join(found)


def upgrade() -> None:
    _run(op.get_bind(), _read("0020_holds_speed.sql"))


def downgrade() -> None:
    bind = op.get_bind()
    # 0013's versions first: its lots_return_hold no longer calls the function dropped next.
    _run(bind, definitions_0013(REPLACED))
    for signature in ADDED:
        bind.exec_driver_sql(f"DROP FUNCTION {signature}")
