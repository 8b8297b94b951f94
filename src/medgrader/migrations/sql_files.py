"""The SQL files of the migrations (sql/): read them, run them, and take one function's text
out of one, as a migration's downgrade restores it (and a test compares it with its
replacement)."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any


def read_sql(name: str) -> str:
    return (resources.files("medgrader.migrations") / "sql" / name).read_text()


def run_sql(bind: Any, sql: str) -> None:
    """Run a whole file's statements on an Alembic bind."""
    # exec_driver_sql formats with psycopg even without parameters: RAISE's % doubled.
    bind.exec_driver_sql(sql.replace("%", "%%"))


def function_text(file: str, name: str) -> str:
    """The plpgsql function `name` as `file` defines it, as CREATE OR REPLACE (the file's
    first definition of it)."""
    found = re.search(
        rf"^CREATE (?:OR REPLACE )?FUNCTION {name}\(.*?^END \$\$;$", read_sql(file), re.S | re.M
    )
    if found is None:
        raise LookupError(f"sql/{file} has no plpgsql function {name}")
    return re.sub(r"^CREATE (?:OR REPLACE )?FUNCTION", "CREATE OR REPLACE FUNCTION", found.group(0))
