"""A scratch database of a test's own on the embedded test server, dropped afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from medgrader.db.embedded import drop_database, ensure_database
from medgrader.db.resolve import Database
from tests.support.databases import TEST_DATABASE


@contextmanager
def scratch_database(database: Database, suffix: str) -> Iterator[str]:
    """An empty database named after this pytest process's own (TEST_DATABASE: the run's
    prefix and the xdist worker) and `suffix`; yields its libpq URL. Skips where the tests run
    on an external server.

    The worker is in the name because a module's tests may run on two workers at once: with
    one name, one test's drop took the other's database from under it."""
    if database.embedded is None:
        pytest.skip("needs the embedded server to create a scratch database")
    admin_url = database.embedded.libpq_url("postgres")
    name = f"{TEST_DATABASE}_{suffix}"
    drop_database(admin_url, name)
    ensure_database(admin_url, name)
    try:
        yield database.embedded.libpq_url(name)
    finally:
        drop_database(admin_url, name)
