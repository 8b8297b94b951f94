"""Replaying what the inbox kept unprocessed: events stored before their handler existed go
through today's handlers exactly once, over HTTP (one event) and with `medgrader webhooks
replay` (a batch, as an operator runs it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import httpx
import psycopg
import pytest

from medgrader.db.engine import to_libpq_url
from medgrader.db.resolve import Database
from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import balance, inbox, webhooks_paused
from tests.conftest import STRIPE_SECRET_KEY
from tests.payments.returns_support import assert_rule_holds, buy_and_pay, events_of
from tests.support.accounts import Account
from tests.support.invariants import ROOT


def store_as_before_the_handlers(db: psycopg.Connection, event: dict[str, Any]) -> None:
    """What the inbox held for a refund event before this product handled refunds."""
    db.execute(
        """INSERT INTO webhook_events (id, type, payload, outcome)
           VALUES (%s, %s, %s::json, 'unhandled: stored for later')""",
        (event["id"], event["type"], json.dumps(event)),
    )


def replay_cli(database: Database, emulator: EmulatorServer, *args: str) -> Any:
    env = os.environ | {
        "DATABASE_URL": to_libpq_url(database.url),
        "ENVIRONMENT": "test",
        "STRIPE_API_BASE": emulator.url,
        "STRIPE_SECRET_KEY": STRIPE_SECRET_KEY,
        "RUN_WORKER_IN_PROCESS": "false",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "medgrader.cli", "webhooks", "replay", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.e2e  # `medgrader webhooks replay` is another process: Stripe over HTTP
def test_events_stored_before_the_handlers_existed_are_replayed_once(
    app_url: str, client: httpx.Client, student: Account, admin: Account,
    packages: dict[str, Any], stripe_emulator: EmulatorServer, db: psycopg.Connection,
    database: Database, invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    before = balance(db, student.id)
    with webhooks_paused(stripe_emulator, app_url):  # the refund happened back then
        stripe_emulator.refund(payment_intent=paid.payment_intent, amount=600)
    events = events_of(stripe_emulator, paid)
    assert sorted(e["type"] for e in events) == ["charge.refunded", "refund.created"]
    for event in events:
        store_as_before_the_handlers(db, event)
    assert balance(db, student.id) == before  # stored, never handled

    listed = client.get(
        "/api/admin/webhook-events", params={"status": "unprocessed", "limit": 100},
        headers=admin.headers,
    )  # fmt: skip
    assert listed.status_code == 200, listed.text
    assert {e["id"] for e in events} <= {item["id"] for item in listed.json()["items"]}

    first = next(e for e in events if e["type"] == "refund.created")
    replayed = client.post(f"/api/admin/webhook-events/{first['id']}/replay", headers=admin.headers)
    assert replayed.status_code == 200, replayed.text
    assert replayed.json() == {
        "id": first["id"], "type": "refund.created",
        "outcome": "returns_applied: -60 credits", "status": "processed",
    }  # fmt: skip
    assert balance(db, student.id) == before - 60
    assert_rule_holds(db, paid, returned=600)
    again = client.post(f"/api/admin/webhook-events/{first['id']}/replay", headers=admin.headers)
    assert again.status_code == 409
    assert again.json()["code"] == "already_processed"

    # The operator replays the rest from the command line.
    done = replay_cli(database, stripe_emulator, "--type", "charge.refunded")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "processed" in done.stdout
    rest = next(e for e in events if e["type"] == "charge.refunded")
    stored = inbox(db, rest["id"])
    assert stored is not None
    assert (stored["outcome"], stored["processed_at"] is not None) == ("returns_unchanged", True)
    assert balance(db, student.id) == before - 60  # once, whatever replays it
    assert_rule_holds(db, paid, returned=600)
    nothing_left = replay_cli(database, stripe_emulator, "--event-id", rest["id"])
    assert nothing_left.returncode == 0
    assert "already processed" in nothing_left.stdout

    detail = client.get(f"/api/admin/webhook-events/{rest['id']}", headers=admin.headers)
    assert detail.status_code == 200
    assert (detail.json()["status"], detail.json()["payload"]["id"]) == ("processed", rest["id"])


def test_replay_is_for_admins_and_known_events(
    client: httpx.Client, student: Account, admin: Account
) -> None:
    missing = client.post("/api/admin/webhook-events/evt_nope/replay", headers=admin.headers)
    assert missing.status_code == 404
    assert missing.json()["code"] == "webhook_event_not_found"
    assert client.post("/api/admin/webhook-events/evt_nope/replay").status_code == 401
    forbidden = client.post("/api/admin/webhook-events/evt_nope/replay", headers=student.headers)
    assert forbidden.status_code == 403
    assert client.get("/api/admin/webhook-events", headers=student.headers).status_code == 403
    bad = client.get("/api/admin/webhook-events", params={"status": "odd"}, headers=admin.headers)
    assert bad.status_code == 422
    assert bad.json()["code"] == "validation_error"
    junk = client.get("/api/admin/webhook-events", params={"cursor": "junk"}, headers=admin.headers)
    assert junk.status_code == 400
    assert junk.json()["code"] == "invalid_cursor"
