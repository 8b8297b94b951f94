"""the procrastinate job queue's schema, on the same PostgreSQL

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op
from procrastinate.schema import SchemaManager

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The schema SQL of the pinned procrastinate version. A procrastinate upgrade that ships
    # migrations gets its own revision applying them.
    op.execute(SchemaManager.get_schema())


def downgrade() -> None:
    op.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
