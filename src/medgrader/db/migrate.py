"""Apply Alembic migrations programmatically (the `migrate` command, the demo and the tests)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from medgrader.db.engine import to_async_url


class MigrationRefused(RuntimeError):
    """A migration found data it must not change by itself; its message says what and how to
    proceed. Nothing of that migration was applied (its transaction rolled back)."""


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "medgrader:migrations")
    # Migrations run synchronously; psycopg 3 serves both modes under the same URL scheme.
    config.set_main_option("sqlalchemy.url", to_async_url(database_url).replace("%", "%%"))
    return config


def upgrade_to_head(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")


def make_revision(database_url: str, message: str) -> None:
    """Developer helper: autogenerate a revision against a migrated database."""
    command.revision(alembic_config(database_url), message=message, autogenerate=True)
