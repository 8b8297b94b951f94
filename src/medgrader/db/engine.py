"""How a DATABASE_URL is spelled for each client: SQLAlchemy's psycopg 3 dialect (Alembic),
and plain libpq (the application's pool, procrastinate, pgbench)."""

from __future__ import annotations


def to_async_url(url: str) -> str:
    """Accept the usual spellings of a PostgreSQL URL and pin the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def to_libpq_url(url: str) -> str:
    """The same URL as plain libpq understands it (for psycopg, procrastinate, pgbench)."""
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url
