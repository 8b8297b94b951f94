"""Downgrading every migration on a scratch database removes the product's objects and nothing
else: a table of someone else's in `public` survives (migration 0002's downgrade used to run
`DROP SCHEMA public CASCADE`, which took it too), and the database upgrades to head again."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from alembic import command

from medgrader.db.migrate import alembic_config
from medgrader.db.resolve import Database
from tests.support.scratch import scratch_database

# Every relation (table, index, sequence, view), free-standing type and function in `public`.
# Types a table brings along (its row type, the array types) are counted through the table.
_OBJECTS = """
SELECT 'relation ' || c.relname FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'
UNION ALL
SELECT 'type ' || t.typname FROM pg_type t
  JOIN pg_namespace n ON n.oid = t.typnamespace
 WHERE n.nspname = 'public' AND t.typcategory <> 'A'
   AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind <> 'c')
UNION ALL
SELECT 'function ' || p.proname FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'
"""
UNRELATED = {"relation keep_me", "relation keep_me_pkey", "relation keep_me_id_seq"}
# Alembic's own bookkeeping stays after a downgrade to base (empty); it is not the product's.
ALEMBIC = {"relation alembic_version", "relation alembic_version_pkc"}


@pytest.fixture
def scratch(database: Database) -> Iterator[str]:
    with scratch_database(database, "downgrade") as url:
        yield url


def _objects(url: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as db:
        return {row[0] for row in db.execute(_OBJECTS)}


def test_downgrade_to_base_keeps_what_the_migrations_did_not_create(scratch: str) -> None:
    config = alembic_config(scratch)
    command.upgrade(config, "head")
    at_head = _objects(scratch)
    # The job queue's schema (0002) and the product's own tables are there to be dropped.
    assert {"relation procrastinate_jobs", "type procrastinate_job_status"} <= at_head
    assert "function procrastinate_fetch_job_v2" in at_head
    assert "relation credit_transactions" in at_head
    with psycopg.connect(scratch, autocommit=True) as db:
        db.execute("CREATE TABLE keep_me (id serial PRIMARY KEY, note text NOT NULL)")
        db.execute("INSERT INTO keep_me (note) VALUES ('not the product''s')")

    command.downgrade(config, "base")

    assert _objects(scratch) == UNRELATED | ALEMBIC
    with psycopg.connect(scratch, autocommit=True) as db:
        assert db.execute("SELECT note FROM keep_me").fetchall() == [("not the product's",)]
        assert db.execute("SELECT count(*) FROM alembic_version").fetchone() == (0,)

    command.upgrade(config, "head")
    assert _objects(scratch) == at_head | UNRELATED
