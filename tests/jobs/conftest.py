"""A PostgreSQL server of the fault tests' own, so cutting its connections or restarting it
disturbs no other test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from medgrader.config import Settings
from medgrader.db.embedded import (
    EmbeddedServer,
    drop_database,
    ensure_database,
    start_embedded_postgres,
)
from medgrader.db.migrate import upgrade_to_head
from tests.conftest import ROOT

FAULTS_DATABASE = "medgrader_faults"


@pytest.fixture(scope="session")
def fault_server() -> Iterator[EmbeddedServer]:
    server = start_embedded_postgres(ROOT / ".data" / "faults", database="postgres")
    drop_database(server.libpq_url("postgres"), FAULTS_DATABASE)
    ensure_database(server.libpq_url("postgres"), FAULTS_DATABASE)
    upgrade_to_head(server.sqlalchemy_url(FAULTS_DATABASE))
    yield server
    server.stop()


@pytest.fixture
def fault_settings(settings: Settings, fault_server: EmbeddedServer) -> Settings:
    return settings.model_copy(
        update={"database_url": fault_server.sqlalchemy_url(FAULTS_DATABASE)}
    )
