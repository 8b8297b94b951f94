"""`medgrader audit`: clean on a clean database, exit 1 when a balance moved behind its back."""

from __future__ import annotations

import subprocess

import psycopg
import pytest

from medgrader.db.resolve import Database
from tests.support.accounts import Account
from tests.support.invariants import run_audit_cli

# End-to-end: `medgrader audit` as an operator runs it, in a process of its own.
pytestmark = pytest.mark.e2e


def _audit(database: Database) -> subprocess.CompletedProcess[str]:
    return run_audit_cli(database.url)


def test_audit_is_clean_then_catches_a_balance_changed_with_raw_sql(
    database: Database, db: psycopg.Connection, student: Account
) -> None:
    clean = _audit(database)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "audit clean" in clean.stdout

    db.execute(
        "UPDATE student_profiles SET credit_balance = credit_balance + 7 WHERE user_id = %s",
        (student.id,),
    )
    try:
        broken = _audit(database)
    finally:
        db.execute(
            "UPDATE student_profiles SET credit_balance = credit_balance - 7 WHERE user_id = %s",
            (student.id,),
        )
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert student.id in broken.stdout
    assert "balance 107 but entries sum to 100" in broken.stdout

    assert _audit(database).returncode == 0


def test_audit_catches_a_broken_balance_after_chain(
    database: Database, db: psycopg.Connection, student: Account
) -> None:
    # A second entry whose balanceAfter does not follow from the first (and a balance that
    # matches the sum, so only the chain check can see it). The ledger is append-only in the
    # product; the test writes around it on purpose and removes what it wrote.
    db.execute(
        """
        INSERT INTO credit_transactions
            (student_id, entry_type, amount, balance_after, source_type, description)
        VALUES (%s, 'CREDIT', 5, 999, 'ADMIN_ADJUSTMENT', 'test: broken chain')
        """,
        (student.id,),
    )
    db.execute(
        "UPDATE student_profiles SET credit_balance = credit_balance + 5 WHERE user_id = %s",
        (student.id,),
    )
    try:
        broken = _audit(database)
    finally:
        db.execute(
            "DELETE FROM credit_transactions WHERE student_id = %s AND description = %s",
            (student.id, "test: broken chain"),
        )
        db.execute(
            "UPDATE student_profiles SET credit_balance = credit_balance - 5 WHERE user_id = %s",
            (student.id,),
        )
    assert broken.returncode == 1
    assert "balance_after_chain" in broken.stdout
    assert _audit(database).returncode == 0
