"""Starting a checkout: who may, for what, what Stripe is asked, the Customer reused, Stripe
trouble, the success-page status check and the session list."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import (
    assert_not_paid,
    assert_paid_once,
    balance,
    inbox,
    retrieve_session,
    session_row,
    settle_webhooks,
    start_checkout,
    stripe_events,
    webhooks_paused,
)
from tests.support.accounts import Account
from tests.support.live_server import free_port
from tests.support.tiers import NewClient


def stripe_counts(emulator: EmulatorServer) -> tuple[int, int]:
    store = emulator.emulator.store  # read-only look at the emulator's state
    return len(store.sessions), len(store.customers)


def checkout_rows(db: psycopg.Connection, student_id: str) -> int:
    row = db.execute(
        "SELECT count(*) FROM checkout_sessions WHERE student_id = %s", (student_id,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def customer_id(db: psycopg.Connection, student_id: str) -> str | None:
    row = db.execute(
        "SELECT stripe_customer_id FROM student_profiles WHERE user_id = %s", (student_id,)
    ).fetchone()
    assert row is not None
    return row[0]


def test_unknown_or_inactive_package_never_reaches_stripe(
    client: httpx.Client, admin: Account, student: Account, stripe_emulator: EmulatorServer,
    db: psycopg.Connection,
) -> None:  # fmt: skip
    inactive = client.post(
        "/api/credit-packages",
        json={"name": f"Retired {uuid.uuid4().hex[:8]}", "credits": 5, "priceInCents": 50,
              "isActive": False},
        headers=admin.headers,
    ).json()  # fmt: skip
    before = stripe_counts(stripe_emulator)
    for package_id, status, code in (
        (str(uuid.uuid4()), 404, "package_not_found"),
        (inactive["id"], 409, "package_inactive"),
    ):
        response = client.post(
            "/api/payments/credit-checkout", json={"packageId": package_id}, headers=student.headers
        )
        assert response.status_code == status, response.text
        assert response.json()["code"] == code
    for body in ({"packageId": "not-a-uuid"}, {}, {"packageId": 5}):
        response = client.post("/api/payments/credit-checkout", json=body, headers=student.headers)
        assert response.status_code == 422
        assert "packageId" in response.json()["error"]
    assert stripe_counts(stripe_emulator) == before
    assert checkout_rows(db, student.id) == 0
    assert customer_id(db, student.id) is None


def test_only_students_may_check_out(
    client: httpx.Client, instructor: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer,
) -> None:  # fmt: skip
    before = stripe_counts(stripe_emulator)
    body = {"packageId": packages["starter"]["id"]}
    for headers, status, code in (
        ({}, 401, "unauthorized"),
        (instructor.headers, 403, "student_only"),
        (admin.headers, 403, "student_only"),
    ):
        response = client.post("/api/payments/credit-checkout", json=body, headers=headers)
        assert response.status_code == status
        assert response.json()["code"] == code
    assert stripe_counts(stripe_emulator) == before


def test_customer_created_once_and_reused(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection,
) -> None:  # fmt: skip
    first = start_checkout(client, student, packages["starter"]["id"])
    stored = customer_id(db, student.id)
    assert stored is not None
    assert stored.startswith("cus_")
    second = start_checkout(client, student, packages["value"]["id"])
    assert customer_id(db, student.id) == stored
    for created in (first, second):
        assert retrieve_session(stripe_emulator, created["sessionId"])["customer"] == stored
    customer = stripe_emulator.emulator.store.customers[stored]
    assert customer["email"] == student.email
    assert customer["metadata"] == {"student_id": student.id}


def test_racing_first_checkouts_share_one_customer(
    new_client: NewClient, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection,
) -> None:  # fmt: skip
    def checkout(key: str) -> httpx.Response:
        with new_client() as http:
            return http.post(
                "/api/payments/credit-checkout",
                json={"packageId": packages[key]["id"]},
                headers=student.headers,
            )

    keys = ["starter", "value", "premium", "starter", "value", "premium"]
    with ThreadPoolExecutor(max_workers=len(keys)) as pool:
        responses = list(pool.map(checkout, keys))
    assert [r.status_code for r in responses] == [201] * len(keys), [r.text for r in responses]
    stored = customer_id(db, student.id)
    assert stored is not None
    customers = [
        c for c in list(stripe_emulator.emulator.store.customers.values())
        if c["metadata"].get("student_id") == student.id
    ]  # fmt: skip
    assert [c["id"] for c in customers] == [stored]
    for response in responses:
        assert retrieve_session(stripe_emulator, response.json()["sessionId"])["customer"] == stored
    assert checkout_rows(db, student.id) == len(keys)


@pytest.mark.parametrize("trouble", ["unreachable", "refusing"])
def test_stripe_trouble_is_502_and_nothing_is_kept(
    build_app: Callable[..., Any], serve: Callable[[Any], Any], student: Account,
    packages: dict[str, Any], db: psycopg.Connection, trouble: str,
) -> None:  # fmt: skip
    changes: dict[str, Any] = (
        {"stripe_api_base": f"http://127.0.0.1:{free_port()}"}
        if trouble == "unreachable"
        else {"stripe_secret_key": SecretStr("sk_wrong_key")}  # the API answers 401
    )
    with serve(build_app(**changes)).client() as http:
        response = http.post(
            "/api/payments/credit-checkout",
            json={"packageId": packages["starter"]["id"]},
            headers=student.headers,
        )
    assert response.status_code == 502, response.text
    body = response.json()
    expected = "stripe_unavailable" if trouble == "unreachable" else "stripe_error"
    assert body["code"] == expected
    assert "payment provider" in body["error"]
    assert checkout_rows(db, student.id) == 0
    assert customer_id(db, student.id) is None


def test_status_endpoint_fulfils_before_the_webhook(
    app_url: str, client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    session_id = start_checkout(client, student, packages["value"]["id"])["sessionId"]
    with webhooks_paused(stripe_emulator, app_url):
        stripe_emulator.pay(session_id)
        assert session_row(db, session_id)["status"] == "PENDING"
        # The student lands on the success page before Stripe's webhook reaches us.
        status = client.get(f"/api/payments/checkout-status/{session_id}", headers=student.headers)
        assert status.status_code == 200
        assert status.json()["status"] == "COMPLETED"
        assert balance(db, student.id) == before + 500
        assert_paid_once(db, student.id, session_id, 500, 4500)

    (event_id,) = stripe_events(stripe_emulator, session_id, "checkout.session.completed")
    stripe_emulator.resend(event_id)  # the webhook arrives late
    settle_webhooks(stripe_emulator)
    stored = inbox(db, event_id)
    assert stored is not None
    assert stored["outcome"] == "already_completed"
    assert balance(db, student.id) == before + 500
    assert_paid_once(db, student.id, session_id, 500, 4500)


def test_status_endpoint_notices_expiry(
    app_url: str, client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    session_id = start_checkout(client, student, packages["starter"]["id"])["sessionId"]
    with webhooks_paused(stripe_emulator, app_url):
        stripe_emulator.expire(session_id)
        status = client.get(f"/api/payments/checkout-status/{session_id}", headers=student.headers)
    assert status.json()["status"] == "EXPIRED"
    assert_not_paid(db, session_id)


def test_status_is_private(
    client: httpx.Client, student: Account, instructor: Account, admin: Account,
    packages: dict[str, Any], mailbox: Any,
) -> None:  # fmt: skip
    from tests.support.accounts import sign_up

    session_id = start_checkout(client, student, packages["starter"]["id"])["sessionId"]
    other = sign_up(client, mailbox, role="student")
    for headers in (other.headers, instructor.headers):
        response = client.get(f"/api/payments/checkout-status/{session_id}", headers=headers)
        assert response.status_code == 404
        assert response.json()["code"] == "checkout_session_not_found"
    assert client.get(f"/api/payments/checkout-status/{session_id}").status_code == 401
    unknown = client.get("/api/payments/checkout-status/cs_test_nope", headers=student.headers)
    assert unknown.status_code == 404
    owner = client.get(f"/api/payments/checkout-status/{session_id}", headers=student.headers)
    as_admin = client.get(f"/api/payments/checkout-status/{session_id}", headers=admin.headers)
    assert owner.status_code == as_admin.status_code == 200
    body = owner.json()
    assert set(body) >= {"sessionId", "status", "credits", "amount", "currency", "createdAt",
                         "expiresAt", "completedAt"}  # fmt: skip
    assert body["sessionId"] == session_id
    assert (body["status"], body["credits"], body["amount"], body["currency"]) == (
        "PENDING",
        100,
        1000,
        "GBP",
    )
    assert body["completedAt"] is None


def test_session_list_is_own_newest_first_and_paginated(
    client: httpx.Client, student: Account, packages: dict[str, Any], mailbox: Any,
) -> None:  # fmt: skip
    from tests.support.accounts import sign_up

    made = [
        start_checkout(client, student, packages[key]["id"])["sessionId"]
        for key in ("starter", "value", "premium", "starter", "value")
    ]
    other = sign_up(client, mailbox, role="student")
    start_checkout(client, other, packages["starter"]["id"])

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/payments/checkout-sessions", params=params, headers=student.headers)
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) <= 2
        seen += [item["sessionId"] for item in body["items"]]
        pages += 1
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))
    assert pages == 3

    bad = client.get("/api/payments/checkout-sessions", params={"cursor": "!!!"},
                     headers=student.headers)  # fmt: skip
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid_cursor"
    too_many = client.get("/api/payments/checkout-sessions", params={"limit": 101},
                          headers=student.headers)  # fmt: skip
    assert too_many.status_code == 422
    assert "limit" in too_many.json()["error"]
