"""The back office tells the webhook events an operator must look at (failed, waiting) apart
from the normal traffic no handler acts on (not handled): on the dashboard and in the list."""

from __future__ import annotations

import re
from typing import Any

import httpx
import psycopg

from stripe_emulator.testing import EmulatorServer
from tests.payments.returns_support import buy_and_pay
from tests.support.accounts import Account
from tests.support.live_server import LiveServer
from tests.web.support import admin_client


def _figure(html: str, element_id: str) -> int:
    match = re.search(rf'id="{element_id}">(\d+)<', html)
    assert match is not None, element_id
    return int(match.group(1))


def test_the_dashboard_counts_failed_waiting_and_not_handled_apart(
    web_app: LiveServer, admin: Account, student: Account, client: httpx.Client,
    packages: dict[str, Any], stripe_emulator: EmulatorServer, db: psycopg.Connection,
    invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    summary = client.get("/api/admin/analytics/summary", headers=admin.headers).json()
    with admin_client(web_app, admin) as http:
        dashboard = http.get("/admin").text
        assert _figure(dashboard, "failed-events") == summary["webhookEventsFailed"]
        assert _figure(dashboard, "unprocessed-events") == summary["webhookEventsUnprocessed"]
        assert _figure(dashboard, "unhandled-events") == summary["webhookEventsUnhandled"]
        # this purchase's own, at least (customer, intent created, charge; payment_intent.succeeded
        # is handled since automatic top-up)
        assert summary["webhookEventsUnhandled"] >= 3
        assert 'href="/admin/webhook-events?status=unhandled"' in dashboard

        (event_id,) = db.execute(
            "SELECT id FROM webhook_events WHERE type = 'payment_intent.created'"
            " AND strpos(payload::text, %s) > 0",
            (paid.payment_intent,),
        ).fetchone()  # type: ignore[misc]
        unhandled = http.get("/admin/webhook-events", params={"status": "unhandled"}).text
        assert event_id in unhandled
        assert "<option selected>unhandled</option>" in unhandled
        waiting = http.get("/admin/webhook-events", params={"status": "unprocessed"}).text
        assert event_id not in waiting
        detail = http.get(f"/admin/webhook-events/{event_id}").text
        assert 'class="status s-unhandled">unhandled<' in detail
        assert 'id="unhandled"' in detail
        assert 'id="replay"' not in detail  # nothing to replay it with yet
