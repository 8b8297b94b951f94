"""Migration 0012 makes payments.stripe_payment_intent_id UNIQUE, and first reports any
duplicates instead of touching them: on a scratch database, with and without a duplicate,
through `medgrader migrate` as an operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from alembic import command

from medgrader.db.migrate import alembic_config
from medgrader.db.resolve import Database
from tests.conftest import ROOT
from tests.support.scratch import scratch_database


@pytest.fixture
def scratch(database: Database) -> Iterator[str]:
    """A database of this test's own, migrated to 0011 (just before the change)."""
    with scratch_database(database, "intents") as url:
        command.upgrade(alembic_config(url), "0011")
        yield url


def _payment(db: psycopg.Connection, intent: str | None) -> uuid.UUID:
    """A purchase as fulfilment records it: a student, a package, a session and its payment."""
    user = db.execute(
        "INSERT INTO users (email, role) VALUES (%s, 'student') RETURNING id",
        (f"{uuid.uuid4().hex}@example.com",),
    ).fetchone()[0]  # type: ignore[index]
    db.execute(
        "INSERT INTO student_profiles (user_id, first_name, last_name) VALUES (%s, 'A', 'B')",
        (user,),
    )
    package = db.execute(
        "INSERT INTO credit_packages (name, credits, price_pence) VALUES (%s, 100, 1000)"
        " RETURNING id",
        (uuid.uuid4().hex[:20],),
    ).fetchone()[0]  # type: ignore[index]
    stripe_session = f"cs_test_{uuid.uuid4().hex}"
    checkout = db.execute(
        "INSERT INTO checkout_sessions (stripe_session_id, student_id, package_id, package_name,"
        " credits, amount_pence, currency, expires_at, status, completed_at)"
        " VALUES (%s, %s, %s, 'Pack', 100, 1000, 'gbp', now(), 'COMPLETED', now())"
        " RETURNING id",
        (stripe_session, user, package),
    ).fetchone()[0]  # type: ignore[index]
    return db.execute(
        "INSERT INTO payments (student_id, checkout_session_id, stripe_checkout_session_id,"
        " stripe_payment_intent_id, amount_pence, currency, credits, package_name, paid_at)"
        " VALUES (%s, %s, %s, %s, 1000, 'gbp', 100, 'Pack', now()) RETURNING id",
        (user, checkout, stripe_session, intent),
    ).fetchone()[0]  # type: ignore[index]


def _migrate(url: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"DATABASE_URL": url, "ENVIRONMENT": "test", "COLUMNS": "250"}
    return subprocess.run(
        [sys.executable, "-m", "medgrader.cli", "migrate"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _revision(db: psycopg.Connection) -> str:
    return db.execute("SELECT version_num FROM alembic_version").fetchone()[0]  # type: ignore[index]


def _unique(db: psycopg.Connection) -> bool:
    return db.execute(
        "SELECT count(*) FROM pg_constraint WHERE conname = 'uq_payments_stripe_payment_intent_id'"
        " AND contype = 'u'"
    ).fetchone() == (1,)


def test_without_duplicates_the_intent_becomes_unique(scratch: str) -> None:
    with psycopg.connect(scratch, autocommit=True) as db:
        _payment(db, "pi_one")
        _payment(db, "pi_two")
        _payment(db, None)
        _payment(db, None)  # a payment without an intent stays possible, many times over
        result = _migrate(scratch)
        assert result.returncode == 0, result.stdout + result.stderr
        assert _revision(db) >= "0012"
        assert _unique(db)
        with pytest.raises(psycopg.errors.UniqueViolation):
            _payment(db, "pi_one")
        _payment(db, None)
    command.downgrade(alembic_config(scratch), "0011")
    with psycopg.connect(scratch, autocommit=True) as db:
        assert not _unique(db)
        assert db.execute(
            "SELECT count(*) FROM pg_indexes"
            " WHERE indexname = 'ix_payments_stripe_payment_intent_id'"
        ).fetchone() == (1,)


def test_duplicates_are_listed_and_nothing_changes(scratch: str) -> None:
    with psycopg.connect(scratch, autocommit=True) as db:
        first, second = _payment(db, "pi_twice"), _payment(db, "pi_twice")
        _payment(db, "pi_alone")
        before = db.execute("SELECT id, stripe_payment_intent_id FROM payments").fetchall()
        result = _migrate(scratch)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        assert "cannot become UNIQUE: 1 payment intent(s)" in result.stderr
        listed = next(line for line in result.stderr.splitlines() if "pi_twice" in line)
        assert str(first) in listed
        assert str(second) in listed
        assert "pi_alone" not in result.stderr
        # Nothing deleted, nothing constrained, still at the revision before.
        assert sorted(before) == sorted(
            db.execute("SELECT id, stripe_payment_intent_id FROM payments").fetchall()
        )
        assert _revision(db) == "0011"
        assert not _unique(db)
        # Once a person has decided, the migration goes through.
        db.execute("UPDATE payments SET stripe_payment_intent_id = NULL WHERE id = %s", (second,))
        result = _migrate(scratch)
        assert result.returncode == 0, result.stdout + result.stderr
        assert _unique(db)
