"""Migration 0008 (credit holds) on a scratch database: upgrade, downgrade, upgrade again, and
the schema it builds is the one the models declare (constraints and indexes by name)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from alembic import command
from sqlalchemy import CheckConstraint

from medgrader.db.migrate import alembic_config
from medgrader.db.resolve import Database
from medgrader.models.holds import CreditHold
from tests.support.scratch import scratch_database

HOLD_INDEXES = {
    "ix_credit_holds_active",
    "ix_credit_holds_student_seq",
    "ix_credit_holds_sweep",
    "pk_credit_holds",
    "uq_credit_holds_seq",
}


@pytest.fixture
def scratch(database: Database) -> Iterator[str]:
    with scratch_database(database, "holds") as url:
        yield url


def _schema(db: psycopg.Connection) -> tuple[set[str], set[str], bool]:
    rows = db.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'credit_holds'")
    indexes = {r[0] for r in rows}
    checks = {
        r[0]
        for r in db.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = to_regclass('credit_holds')"
            " AND contype = 'c'"
        )
    }
    capture_index = db.execute(
        "SELECT count(*) FROM pg_indexes WHERE indexname = 'uq_credit_transactions_hold_capture'"
    ).fetchone() == (1,)
    return indexes, checks, capture_index


def test_upgrade_downgrade_upgrade(scratch: str) -> None:
    config = alembic_config(scratch)
    command.upgrade(config, "0008")
    declared_checks = {
        str(c.name) for c in CreditHold.__table__.constraints if isinstance(c, CheckConstraint)
    }
    with psycopg.connect(scratch, autocommit=True) as db:
        indexes, checks, capture_index = _schema(db)
        assert indexes == HOLD_INDEXES
        assert checks == declared_checks
        assert capture_index
    command.downgrade(config, "0007")
    with psycopg.connect(scratch, autocommit=True) as db:
        assert db.execute("SELECT to_regclass('credit_holds')").fetchone() == (None,)
        assert _schema(db)[2] is False
    command.upgrade(config, "head")
    with psycopg.connect(scratch, autocommit=True) as db:
        assert _schema(db)[0] == HOLD_INDEXES
