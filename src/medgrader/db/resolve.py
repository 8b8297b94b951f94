"""Where the database is: DATABASE_URL if set, else the embedded server under the data dir."""

from __future__ import annotations

from dataclasses import dataclass

from medgrader.config import Settings
from medgrader.db.embedded import EmbeddedServer, start_embedded_postgres
from medgrader.db.engine import to_async_url


@dataclass(frozen=True)
class Database:
    url: str  # SQLAlchemy async URL
    embedded: EmbeddedServer | None


def resolve_database(settings: Settings) -> Database:
    if settings.database_url:
        return Database(url=to_async_url(settings.database_url), embedded=None)
    server = start_embedded_postgres(settings.data_dir)
    return Database(url=server.sqlalchemy_url(), embedded=server)
