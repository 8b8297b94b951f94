"""The money invariants, checked straight in the database after every scenario."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

from medgrader.audit.checks import CHECKS
from medgrader.db.engine import to_libpq_url

ROOT = Path(__file__).resolve().parents[2]


def run_audit_cli(database_url: str) -> subprocess.CompletedProcess[str]:
    """`medgrader audit` itself, as an operator runs it, against `database_url`."""
    env = os.environ | {
        "DATABASE_URL": to_libpq_url(database_url),
        "ENVIRONMENT": "test",
        "COLUMNS": "250",
    }
    return subprocess.run(
        [sys.executable, "-m", "medgrader.cli", "audit"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def audit_findings(db: psycopg.Connection) -> list[tuple[str, str, str]]:
    findings: list[tuple[str, str, str]] = []
    for name, query in CHECKS.items():
        findings.extend((name, row[0], row[1]) for row in db.execute(query).fetchall())
    return findings


def assert_ledger_invariants(db: psycopg.Connection) -> None:
    """Balance = sum of entries, the balanceAfter chain holds, one PURCHASE per paid session."""
    findings = audit_findings(db)
    assert findings == [], f"ledger invariants broken: {findings}"


def ledger_balance(db: psycopg.Connection, student_id: str) -> tuple[int, int]:
    """(stored balance, sum of the student's entries)."""
    row = db.execute(
        """
        SELECT p.credit_balance,
               COALESCE(SUM(CASE WHEN t.entry_type = 'CREDIT' THEN t.amount ELSE -t.amount END), 0)
          FROM student_profiles p
          LEFT JOIN credit_transactions t ON t.student_id = p.user_id
         WHERE p.user_id = %s
         GROUP BY p.credit_balance
        """,
        (student_id,),
    ).fetchone()
    assert row is not None, f"no student {student_id}"
    return int(row[0]), int(row[1])
