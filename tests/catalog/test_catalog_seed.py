"""`medgrader seed`: the three standard packages, and running it twice changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest

from medgrader.config import Settings
from medgrader.db.engine import to_libpq_url

# End-to-end: `medgrader seed` as an operator runs it, in a process of its own.
pytestmark = pytest.mark.e2e

STANDARD = {("starter pack", 100, 1000), ("value pack", 500, 4500), ("premium pack", 1000, 8000)}


def seeded(db: psycopg.Connection) -> list[tuple[str, int, int, bool]]:
    return db.execute(
        """
        SELECT lower(name), credits, price_pence, is_active FROM credit_packages
         WHERE lower(name) IN ('starter pack', 'value pack', 'premium pack') ORDER BY price_pence
        """
    ).fetchall()


def run_seed(settings: Settings) -> subprocess.CompletedProcess[str]:
    assert settings.database_url is not None
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "DATABASE_URL": to_libpq_url(settings.database_url),
    }
    return subprocess.run(
        [sys.executable, "-m", "medgrader.cli", "seed"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_seed_twice(settings: Settings, db: psycopg.Connection) -> None:
    first = run_seed(settings)
    assert first.returncode == 0, first.stderr
    rows = seeded(db)
    assert {(name, credits, price) for name, credits, price, _ in rows} == STANDARD
    assert all(active for *_, active in rows)

    second = run_seed(settings)
    assert second.returncode == 0, second.stderr
    assert "0 package(s) created" in second.stdout
    assert seeded(db) == rows
