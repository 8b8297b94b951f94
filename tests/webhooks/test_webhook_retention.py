"""Retention of the webhook inbox on real PostgreSQL: events processed (or of a type no
handler acts on) longer ago than WEBHOOK_EVENT_RETENTION_DAYS go, in batches; failed and
waiting events stay whatever their age; 0 keeps everything. Run by the daily job (through the
live app's job worker), in process, and by `medgrader webhooks purge` as an operator runs it.

Retention acts on the whole table by age: these tests store their events far older than any
other test's (which are all received during the run), but they must not run concurrently
with one another."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest

from medgrader.db.engine import to_libpq_url
from medgrader.db.resolve import Database
from medgrader.runtime import BLUEPRINTS
from medgrader.webhooks.repository import FAILED_PREFIX
from medgrader.webhooks.service import UNHANDLED
from medgrader.webhooks.tasks import purge_old_events
from tests.checkout.support import wait_until
from tests.support.invariants import ROOT
from tests.support.live_server import LiveServer
from tests.support.services import ServiceRunner

# (type, days since received, days since processed or None, outcome)
AGES = {
    "old_processed": ("checkout.session.completed", 120, 119, "fulfilled"),
    "old_replayed_lately": ("refund.created", 120, 10, "returns_applied: -10 credits"),
    "old_failed": ("checkout.session.completed", 120, None, f"{FAILED_PREFIX}OperationalError"),
    "old_waiting": ("refund.created", 120, None, "unknown_payment: kept unprocessed"),
    "old_unhandled": ("payment_intent.created", 120, None, UNHANDLED),
    "recent_processed": ("checkout.session.completed", 10, 10, "fulfilled"),
    "recent_unhandled": ("charge.succeeded", 10, None, UNHANDLED),
}
GONE_AFTER_90 = {"old_processed", "old_unhandled"}


STORED: list[str] = []  # every event these tests stored, deleted when each test ends


@pytest.fixture(autouse=True)
def _cleanup(db: psycopg.Connection) -> Iterator[None]:
    yield
    db.execute("DELETE FROM webhook_events WHERE id = ANY(%s)", (STORED,))
    STORED.clear()


def store_events(
    db: psycopg.Connection, ages: dict[str, tuple[str, int, int | None, str]]
) -> dict[str, str]:
    """The events, stored as the inbox would have them that many days ago; name → event id."""
    ids = {}
    for name, (event_type, received, processed, outcome) in ages.items():
        event_id = f"evt_retention_{name}_{uuid.uuid4().hex[:12]}"
        db.execute(
            """INSERT INTO webhook_events (id, type, payload, received_at, processed_at, outcome)
               VALUES (%s, %s, '{}'::json, now() - make_interval(days => %s),
                       now() - make_interval(days => %s), %s)""",
            (event_id, event_type, received, processed, outcome),
        )
        ids[name] = event_id
        STORED.append(event_id)
    return ids


def kept(db: psycopg.Connection, ids: dict[str, str]) -> set[str]:
    rows = db.execute("SELECT id FROM webhook_events WHERE id = ANY(%s)", (list(ids.values()),))
    present = {row[0] for row in rows}
    return {name for name, event_id in ids.items() if event_id in present}


def purge(services: ServiceRunner, days: int, batch: int = 1000) -> int:
    return services.run(lambda ctx: purge_old_events(ctx, older_than_days=days, batch=batch))


def test_old_processed_and_unhandled_go_failed_and_waiting_stay(
    services: ServiceRunner, db: psycopg.Connection
) -> None:
    ids = store_events(db, AGES)
    removed = purge(services, 90)
    assert removed >= len(GONE_AFTER_90)  # the suite's own events are all recent
    assert kept(db, ids) == set(AGES) - GONE_AFTER_90
    assert purge(services, 90) == 0  # nothing more to do
    # A shorter retention reaches the recent ones too; failed and waiting still stay.
    purge(services, 5)
    assert kept(db, ids) == {"old_failed", "old_waiting"}


def test_zero_keeps_everything(services: ServiceRunner, db: psycopg.Connection) -> None:
    ids = store_events(db, AGES)
    assert purge(services, 0) == 0
    assert kept(db, ids) == set(AGES)
    purge(services, 90)


def test_batches_are_committed_one_by_one_until_none_is_left(
    services: ServiceRunner, db: psycopg.Connection
) -> None:
    old = {f"old_{n}": ("checkout.session.completed", 200, 200, "fulfilled") for n in range(7)}
    ids = store_events(db, old)
    assert purge(services, 90, batch=3) >= 7  # 3 + 3 + 1 (+ any other test's)
    assert kept(db, ids) == set()


def test_a_delivery_holding_an_old_event_is_not_waited_for(
    services: ServiceRunner, db: psycopg.Connection, database: Database
) -> None:
    """SKIP LOCKED: the purge passes over a row a delivery holds right now (it goes next
    time) instead of waiting for it; the rest go."""
    ids = store_events(db, {k: AGES[k] for k in GONE_AFTER_90})
    with psycopg.connect(to_libpq_url(database.url)) as delivery:
        delivery.execute(
            "SELECT 1 FROM webhook_events WHERE id = %s FOR UPDATE", (ids["old_processed"],)
        )
        done = threading.Event()
        result: list[int] = []
        worker = threading.Thread(target=lambda: (result.append(purge(services, 90)), done.set()))
        worker.start()
        assert done.wait(10), "the purge waited for the delivery's lock"
        assert kept(db, ids) == {"old_processed"}
        delivery.rollback()
    worker.join()
    purge(services, 90)
    assert kept(db, ids) == set()


@pytest.mark.e2e  # the app's own job worker runs it
def test_the_daily_job_runs_on_the_worker(
    live_app: LiveServer, services: ServiceRunner, db: psycopg.Connection
) -> None:
    (periodic,) = BLUEPRINTS["webhooks"].periodic_registry.periodic_tasks.values()
    assert (periodic.task.name, periodic.cron) == ("purge_webhook_events", "41 3 * * *")
    ids = store_events(db, AGES)
    job_id = services.run(
        lambda ctx: ctx.jobs.configure_task("webhooks:purge_webhook_events").defer_async(
            timestamp=0
        )
    )
    status: Callable[[], object] = lambda: db.execute(  # noqa: E731
        "SELECT status::text FROM procrastinate_jobs WHERE id = %s", (job_id,)
    ).fetchone()
    wait_until(lambda: status() == ("succeeded",), what="the purge job to run")
    assert kept(db, ids) == set(AGES) - GONE_AFTER_90  # the settings' 90 days
    purge(services, 5)


def _purge_cli(
    database: Database, *args: str, retention: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "DATABASE_URL": to_libpq_url(database.url),
        "ENVIRONMENT": "test",
        "RUN_WORKER_IN_PROCESS": "false",
        "COLUMNS": "200",
    }
    env.pop("WEBHOOK_EVENT_RETENTION_DAYS", None)
    if retention is not None:
        env["WEBHOOK_EVENT_RETENTION_DAYS"] = retention
    return subprocess.run(
        [sys.executable, "-m", "medgrader.cli", "webhooks", "purge", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_purge_command_says_how_many_it_removed(
    database: Database, db: psycopg.Connection, services: ServiceRunner
) -> None:
    purge(services, 90)  # nothing else of that age in the way of the count
    ids = store_events(db, AGES)
    off = _purge_cli(database, retention="0")
    assert off.returncode == 0, off.stdout + off.stderr
    assert "retention is off" in off.stdout
    assert "removed 0 events" in off.stdout
    assert kept(db, ids) == set(AGES)

    default = _purge_cli(database)
    assert default.returncode == 0, default.stdout + default.stderr
    assert "removed 2 webhook events older than 90 days" in default.stdout
    assert kept(db, ids) == set(AGES) - GONE_AFTER_90

    sooner = _purge_cli(database, "--older-than-days", "5", retention="0")  # the option wins
    assert sooner.returncode == 0, sooner.stdout + sooner.stderr
    assert kept(db, ids) == {"old_failed", "old_waiting"}
    assert "older than 5 days" in sooner.stdout

    refused = _purge_cli(database, "--older-than-days", "0")
    assert refused.returncode == 2  # at least a day: "0" would be ambiguous
    assert kept(db, ids) == {"old_failed", "old_waiting"}
