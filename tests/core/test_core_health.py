"""/health tells the truth about the database, the webhook pool and the job worker; the
liveness route answers without touching anything."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from medgrader.app import create_app
from medgrader.config import Environment, Settings
from medgrader.db.embedded import EmbeddedServer
from medgrader.db.resolve import Database
from tests.conftest import FAULTS_DATABASE
from tests.support.live_server import LiveServer, free_port

# End-to-end: the live app's job worker and real faults on the fault server (one xdist group).
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("faults")]


def test_health_is_ok_with_every_check_when_all_is_well(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    checks = body["checks"]
    assert checks["database"]["status"] == "ok"
    assert checks["webhookPool"]["status"] == "ok"
    assert checks["webhookPool"]["max"] >= 1
    assert checks["jobWorker"]["status"] == "ok"
    assert checks["jobWorker"]["inProcess"] is True
    assert checks["jobWorker"]["secondsSinceHeartbeat"] < 60


def test_liveness_answers_without_the_database() -> None:
    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere?connect_timeout=1"
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment=Environment.TEST,
        database_url=dead,
        run_worker_in_process=False,
    )
    server = LiveServer(create_app(settings, database=Database(url=dead, embedded=None))).start()
    try:
        live = httpx.get(f"{server.url}/health/live", timeout=30)
        health = httpx.get(f"{server.url}/health", timeout=30)
    finally:
        server.stop()
    assert live.status_code == 200
    assert live.json() == {"status": "alive"}
    assert health.status_code == 503
    body = health.json()
    assert body["status"] == "unavailable"
    assert body["code"] == "db_unavailable"
    assert "database" in body["error"]
    assert body["checks"]["database"]["status"] == "failing"
    assert body["checks"]["webhookPool"]["status"] == "failing"


@pytest.fixture
def own_app(settings: Settings, database: Database) -> Iterator[tuple[LiveServer, object]]:
    """An app of the test's own with its in-process worker (so its state can be aged)."""
    app = create_app(settings, database=database)
    server = LiveServer(app).start()
    try:
        yield server, app
    finally:
        server.stop()


def test_a_worker_that_has_not_beaten_for_a_minute_is_dead(
    own_app: tuple[LiveServer, object],
) -> None:
    """Before: /health stayed 200 whatever became of the job worker."""
    server, app = own_app
    supervisor = app.state.worker  # type: ignore[attr-defined]
    deadline = time.monotonic() + 20
    while supervisor.last_beat is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200
    # Its last confirmed heartbeat, 61 seconds ago (as after a minute without one).
    supervisor.heartbeat_interval = 3600  # no fresh beat during the check
    supervisor.last_beat = time.monotonic() - 61
    response = httpx.get(f"{server.url}/health", timeout=10)
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["code"] == "job_worker_dead"
    assert "job worker" in body["error"]
    assert body["checks"]["jobWorker"]["secondsSinceHeartbeat"] >= 60
    assert body["checks"]["database"]["status"] == "ok"


def test_without_an_in_process_worker_the_freshest_heartbeat_of_any_worker_counts(
    fault_settings: Settings, fault_server: EmbeddedServer
) -> None:
    settings = fault_settings.model_copy(update={"run_worker_in_process": False})
    server = LiveServer(create_app(settings)).start()
    try:
        with psycopg.connect(fault_server.libpq_url(FAULTS_DATABASE), autocommit=True) as conn:
            conn.execute("DELETE FROM procrastinate_workers")
            nobody = httpx.get(f"{server.url}/health", timeout=10)
            # A worker elsewhere (`medgrader worker`) registers and beats...
            conn.execute("INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now())")
            beating = httpx.get(f"{server.url}/health", timeout=10)
            # ...until it stops beating for more than a minute.
            conn.execute(
                "UPDATE procrastinate_workers SET last_heartbeat = now() - '61 s'::interval"
            )
            stale = httpx.get(f"{server.url}/health", timeout=10)
            conn.execute("DELETE FROM procrastinate_workers")
    finally:
        server.stop()
    assert nobody.status_code == 503
    assert nobody.json()["code"] == "job_worker_dead"
    assert nobody.json()["checks"]["jobWorker"]["secondsSinceHeartbeat"] is None
    assert beating.status_code == 200, beating.text
    assert beating.json()["checks"]["jobWorker"] == {
        "status": "ok",
        "inProcess": False,
        "secondsSinceHeartbeat": pytest.approx(0, abs=5),
    }
    assert stale.status_code == 503
    assert stale.json()["code"] == "job_worker_dead"
