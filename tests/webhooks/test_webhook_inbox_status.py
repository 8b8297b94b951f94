"""The inbox's statuses after a real purchase through the Stripe emulator: the events no
handler acts on (payment_intent.created and friends) are `unhandled`, apart from the handled
events that wait (`unprocessed`) and the failed ones; a handler added later turns its stored
events into waiting ones by itself, and a replay processes them."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from medgrader.checkout.fulfilment import Outcome
from medgrader.webhooks import service
from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import make_event, post_event
from tests.payments.returns_support import Paid, buy_and_pay
from tests.support.accounts import Account

TODAY = {"from": "2000-01-01", "to": "2000-01-01"}  # the standing figures do not depend on it


def listed(client: httpx.Client, admin: Account, **params: str) -> set[str]:
    response = client.get(
        "/api/admin/webhook-events", params={"limit": 100, **params}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


def inbox_counts(client: httpx.Client, admin: Account) -> dict[str, int]:
    summary = client.get("/api/admin/analytics/summary", params=TODAY, headers=admin.headers)
    assert summary.status_code == 200, summary.text
    body = summary.json()
    return {k: body[f"webhookEvents{k.title()}"] for k in ("unprocessed", "failed", "unhandled")}


def purchase_events(db: psycopg.Connection, paid: Paid) -> dict[str, str]:
    """type → id of the stored events that name this purchase's intent or session."""
    rows = db.execute(
        "SELECT type, id FROM webhook_events"
        " WHERE strpos(payload::text, %s) > 0 OR strpos(payload::text, %s) > 0",
        (paid.payment_intent, paid.session_id),
    ).fetchall()
    return dict(rows)


@pytest.fixture
def paid(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection,
) -> Paid:  # fmt: skip
    return buy_and_pay(client, stripe_emulator, db, student, packages["starter"])


def test_a_purchase_leaves_nothing_waiting_only_events_no_handler_acts_on(
    client: httpx.Client, admin: Account, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    before = inbox_counts(client, admin)
    began = db.execute("SELECT clock_timestamp()").fetchone()[0]  # type: ignore[index]
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    events = purchase_events(db, paid)
    # Also the student's new Stripe Customer (customer.created names neither id).
    arrived = [t for (t,) in db.execute(
        "SELECT type FROM webhook_events WHERE received_at >= %s", (began,)
    )]  # fmt: skip
    unhandled = {t for t in events if not service.is_handled(t)}
    assert {"payment_intent.created", "charge.succeeded"} <= unhandled
    # payment_intent.succeeded is handled (automatic top-up's intents); a purchase's is not ours.
    assert service.is_handled("payment_intent.succeeded")
    assert "checkout.session.completed" in events

    assert {events[t] for t in unhandled} <= listed(client, admin, status="unhandled")
    assert not set(events.values()) & listed(client, admin, status="unprocessed")
    assert not set(events.values()) & listed(client, admin, status="failed")
    assert events["checkout.session.completed"] in listed(client, admin, status="processed")
    one = client.get(
        f"/api/admin/webhook-events/{events['charge.succeeded']}", headers=admin.headers
    ).json()
    assert (one["status"], one["outcome"]) == ("unhandled", service.UNHANDLED)
    # The dashboard's figures: the purchase adds to "not handled" only.
    after = inbox_counts(client, admin)
    arrived_unhandled = [t for t in arrived if not service.is_handled(t)]
    assert len(arrived_unhandled) >= 3  # customer, intent created, charge (issue 20 handles
    # payment_intent.succeeded, which the "four after a single purchase" used to count)
    assert after == {**before, "unhandled": before["unhandled"] + len(arrived_unhandled)}


def test_waiting_and_failed_are_told_apart_from_unhandled(
    client: httpx.Client, admin: Account, db: psycopg.Connection
) -> None:
    before = inbox_counts(client, admin)
    # A refund of a payment we do not know: handled type, kept waiting for a replay.
    waiting = make_event(
        "refund.created",
        {"id": "re_status_test", "object": "refund", "payment_intent": "pi_status_unknown",
         "amount": 100, "status": "succeeded", "currency": "gbp", "charge": None},
    )  # fmt: skip
    # A stored event whose handling failed (as record_failure leaves it).
    failed = make_event("checkout.session.completed", {"id": "cs_status_failed"})
    db.execute(
        "INSERT INTO webhook_events (id, type, payload, outcome)"
        " VALUES (%s, %s, '{}'::json, 'failed: OperationalError: the database went away')",
        (failed["id"], failed["type"]),
    )
    response = post_event(client, waiting)
    assert response.status_code == 200, response.text
    assert waiting["id"] in listed(client, admin, status="unprocessed")
    assert waiting["id"] not in listed(client, admin, status="unhandled")
    assert failed["id"] in listed(client, admin, status="failed")
    assert failed["id"] not in listed(client, admin, status="unprocessed")
    after = inbox_counts(client, admin)
    assert after == {
        **before,
        "unprocessed": before["unprocessed"] + 1,
        "failed": before["failed"] + 1,
    }
    db.execute("DELETE FROM webhook_events WHERE id = ANY(%s)", ([failed["id"], waiting["id"]],))


def test_a_handler_added_later_turns_stored_events_into_waiting_ones(
    client: httpx.Client, admin: Account, paid: Paid, db: psycopg.Connection,
    monkeypatch: pytest.MonkeyPatch, invariants: None,
) -> None:  # fmt: skip
    events = purchase_events(db, paid)
    stored = events["payment_intent.created"]
    assert stored in listed(client, admin, status="unhandled", type="payment_intent.created")
    before = inbox_counts(client, admin)
    seen: list[str] = []

    async def record(session: Any, event: service.Event, _: Any) -> Outcome:
        seen.append(event.id)
        return Outcome("noted by the new handler")

    # A release adds a handler: the app (in this process) now handles the type. Nothing else.
    monkeypatch.setitem(service.HANDLERS, "payment_intent.created", service.Handler(record))
    assert stored in listed(client, admin, status="unprocessed", type="payment_intent.created")
    assert stored not in listed(client, admin, status="unhandled")
    moved = inbox_counts(client, admin)
    assert moved["unprocessed"] - before["unprocessed"] >= 1
    assert before["unhandled"] - moved["unhandled"] == moved["unprocessed"] - before["unprocessed"]

    replayed = client.post(f"/api/admin/webhook-events/{stored}/replay", headers=admin.headers)
    assert replayed.status_code == 200, replayed.text
    assert replayed.json() == {
        "id": stored, "type": "payment_intent.created",
        "outcome": "noted by the new handler", "status": "processed",
    }  # fmt: skip
    assert seen == [stored]
    assert stored in listed(client, admin, status="processed", type="payment_intent.created")


def test_replaying_an_event_no_handler_acts_on_leaves_it_unhandled(
    client: httpx.Client, admin: Account, paid: Paid, db: psycopg.Connection
) -> None:
    stored = purchase_events(db, paid)["charge.succeeded"]
    replayed = client.post(f"/api/admin/webhook-events/{stored}/replay", headers=admin.headers)
    assert replayed.status_code == 200, replayed.text
    assert (replayed.json()["status"], replayed.json()["outcome"]) == (
        "unhandled", service.UNHANDLED,
    )  # fmt: skip
    assert stored in listed(client, admin, status="unhandled", type="charge.succeeded")


def test_the_status_filter_is_documented_and_checked(client: httpx.Client, admin: Account) -> None:
    document = client.get("/openapi.json").json()
    parameters = document["paths"]["/api/admin/webhook-events"]["get"]["parameters"]
    (status,) = [p for p in parameters if p["name"] == "status"]
    assert status["schema"]["anyOf"][0] == {"$ref": "#/components/schemas/InboxStatus"}
    listed = document["components"]["schemas"]["InboxStatus"]["enum"]
    assert sorted(listed) == ["failed", "processed", "unhandled", "unprocessed"]
    for name in listed:
        ok = client.get("/api/admin/webhook-events", params={"status": name},
                        headers=admin.headers)  # fmt: skip
        assert ok.status_code == 200, ok.text
    odd = client.get("/api/admin/webhook-events", params={"status": "waiting"},
                     headers=admin.headers)  # fmt: skip
    assert odd.status_code == 422
    assert odd.json()["code"] == "validation_error"
