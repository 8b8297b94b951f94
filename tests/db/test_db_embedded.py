"""With no DATABASE_URL the process starts the embedded server; its data survives a restart."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

# End-to-end: processes that start and stop an embedded PostgreSQL of their own.
pytestmark = pytest.mark.e2e

SCRIPT = """
import sys
import psycopg
from medgrader.config import Settings
from medgrader.db.engine import to_libpq_url
from medgrader.db.resolve import resolve_database

database = resolve_database(Settings())
assert database.embedded is not None, "expected the embedded server"
with psycopg.connect(to_libpq_url(database.url), autocommit=True) as conn:
    if sys.argv[1] == "write":
        conn.execute(
            "INSERT INTO credit_packages (name, credits, price_pence) VALUES ('Kept', 7, 70)"
        )
    row = conn.execute("SELECT credits FROM credit_packages WHERE name = 'Kept'").fetchone()
    print("credits", row[0] if row else None)
"""


def _run(args: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {"DATA_DIR": str(data_dir), "ENVIRONMENT": "development"}
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False
    )


def test_embedded_server_starts_without_database_url_and_keeps_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    migrated = _run([sys.executable, "-m", "medgrader.cli", "migrate"], data_dir)
    assert migrated.returncode == 0, migrated.stderr
    assert (data_dir / "pg" / "PG_VERSION").exists()
    # Stopped at exit, even on the first run (which restarts the server once to tune it).
    assert not (data_dir / "pg" / "postmaster.pid").exists()

    wrote = _run([sys.executable, "-c", SCRIPT, "write"], data_dir)
    assert wrote.returncode == 0, wrote.stderr
    assert "credits 7" in wrote.stdout
    # The process stopped its server on exit: no postmaster is left running.
    assert not (data_dir / "pg" / "postmaster.pid").exists()

    read = _run([sys.executable, "-c", SCRIPT, "read"], data_dir)
    assert read.returncode == 0, read.stderr
    assert "credits 7" in read.stdout
