"""the procrastinate job queue's schema, on the same PostgreSQL

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

The downgrade drops what the upgrade created and nothing else: the tables, functions and types
named by the same schema SQL (their indexes and triggers go with the tables). It names each
object and uses no CASCADE, so an object of someone else's that depends on one of them makes
the downgrade fail instead of disappearing with it.
"""

import re
from collections.abc import Sequence

from alembic import op
from procrastinate.schema import SchemaManager

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CREATED = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(TABLE|FUNCTION|TYPE)\s+(?:public\.)?(\w+)",
    re.IGNORECASE | re.MULTILINE,
)
# "CREATE TRIGGER name AFTER INSERT ON table ...": the trigger and its table.
_TRIGGER = re.compile(
    r"^\s*CREATE\s+TRIGGER\s+(\w+)[^;]*?\bON\s+(?:public\.)?(\w+)", re.IGNORECASE | re.MULTILINE
)


def upgrade() -> None:
    # The schema SQL of the pinned procrastinate version. A procrastinate upgrade that ships
    # migrations gets its own revision applying them.
    op.execute(SchemaManager.get_schema())


def _created_by_upgrade() -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    """The tables, functions and types the schema SQL creates, and its triggers (with their
    tables), in the order the SQL creates them."""
    schema = SchemaManager.get_schema()
    created: dict[str, list[str]] = {"TABLE": [], "FUNCTION": [], "TYPE": []}
    for kind, name in _CREATED.findall(schema):
        if name not in created[kind.upper()]:
            created[kind.upper()].append(name)
    triggers = _TRIGGER.findall(schema)
    if not (all(created.values()) and triggers):  # SQL this parser cannot read: drop nothing
        raise RuntimeError(f"procrastinate's schema SQL not understood: {created}, {triggers}")
    return created, triggers


def downgrade() -> None:
    created, triggers = _created_by_upgrade()
    # Each kind in the order its dependencies allow: the triggers use the trigger functions;
    # functions return the tables' row types; the tables and functions use the types.
    for trigger, table in triggers:
        op.execute(f"DROP TRIGGER {trigger} ON {table}")
    op.execute(f"DROP FUNCTION {', '.join(created['FUNCTION'])}")
    op.execute(f"DROP TABLE {', '.join(created['TABLE'])}")
    op.execute(f"DROP TYPE {', '.join(created['TYPE'])}")
