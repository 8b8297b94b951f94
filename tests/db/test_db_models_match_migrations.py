"""The ORM models and the migrated schema describe the same tables.

Several migrations are written by hand; a column, index or constraint that one side has and
the other lacks would make `alembic revision --autogenerate` propose it again, or make the
ORM believe in a schema that is not there.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, pool

from medgrader.db.engine import to_async_url
from medgrader.db.resolve import Database
from medgrader.models import Base

# procrastinate's own tables are created by its schema migration, not by our models.
FOREIGN_TABLE_PREFIX = "procrastinate_"


def _ours(diff: object) -> bool:
    text = repr(diff)
    return FOREIGN_TABLE_PREFIX not in text and "alembic_version" not in text


def test_models_match_the_migrated_schema(database: Database) -> None:
    engine = create_engine(to_async_url(database.url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = [d for d in compare_metadata(context, Base.metadata) if _ours(d)]
    finally:
        engine.dispose()
    assert differences == []
