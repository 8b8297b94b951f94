"""Migration 0006 (idempotency keys scoped by operation) on a scratch database: existing rows
survive the upgrade unchanged, the downgrade resolves keys that collide under the old primary
key, and the upgrade runs again."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from alembic import command

from medgrader.db.migrate import alembic_config
from medgrader.db.resolve import Database
from tests.support.scratch import scratch_database


@pytest.fixture
def scratch(database: Database) -> Iterator[str]:
    with scratch_database(database, "keyscope") as url:
        yield url


def _primary_key(db: psycopg.Connection) -> list[str]:
    rows = db.execute(
        """
        SELECT a.attname
          FROM pg_index i
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
         WHERE i.indrelid = 'idempotency_keys'::regclass AND i.indisprimary
         ORDER BY array_position(i.indkey::int2[], a.attnum)
        """
    ).fetchall()
    return [r[0] for r in rows]


def _keys(db: psycopg.Connection) -> list[tuple[str, str, int | None]]:
    return db.execute(
        "SELECT operation, key, response_status FROM idempotency_keys ORDER BY operation, key"
    ).fetchall()


def test_upgrade_keeps_rows_and_downgrade_resolves_collisions(scratch: str) -> None:
    config = alembic_config(scratch)
    command.upgrade(config, "0005")
    student = uuid.uuid4()
    with psycopg.connect(scratch, autocommit=True) as db:
        assert _primary_key(db) == ["student_id", "key"]
        db.execute(
            "INSERT INTO users (id, email, password_hash, role) VALUES (%s, %s, 'x', 'student')",
            (student, f"{student}@example.com"),
        )
        db.execute(
            """INSERT INTO idempotency_keys (student_id, key, operation, request_hash,
                                             response_status, created_at)
               VALUES (%s, 'key-old-1', 'credits.spend', 'h1', 402, now() - interval '1 hour'),
                      (%s, 'key-old-2', 'admin.credit_adjustment', 'h2', NULL, now())""",
            (student, student),
        )

    command.upgrade(config, "0006")
    with psycopg.connect(scratch, autocommit=True) as db:
        assert _primary_key(db) == ["student_id", "operation", "key"]
        assert _keys(db) == [
            ("admin.credit_adjustment", "key-old-2", None),
            ("credits.spend", "key-old-1", 402),
        ]
        # The same string under both operations: allowed now.
        db.execute(
            """INSERT INTO idempotency_keys (student_id, key, operation, request_hash)
               VALUES (%s, 'key-old-1', 'admin.credit_adjustment', 'h3')""",
            (student,),
        )
        with pytest.raises(psycopg.errors.UniqueViolation):
            db.execute(
                """INSERT INTO idempotency_keys (student_id, key, operation, request_hash)
                   VALUES (%s, 'key-old-1', 'credits.spend', 'h4')""",
                (student,),
            )

    command.downgrade(config, "0005")
    with psycopg.connect(scratch, autocommit=True) as db:
        assert _primary_key(db) == ["student_id", "key"]
        # The collision keeps the older row (the spend's); the others are untouched.
        assert _keys(db) == [
            ("admin.credit_adjustment", "key-old-2", None),
            ("credits.spend", "key-old-1", 402),
        ]

    command.upgrade(config, "head")
    with psycopg.connect(scratch, autocommit=True) as db:
        assert _primary_key(db) == ["student_id", "operation", "key"]
