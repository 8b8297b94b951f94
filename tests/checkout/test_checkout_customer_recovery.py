"""A stored Stripe Customer that Stripe no longer knows is replaced, once, race-safe.

Before: after the demo was restarted (the emulator had forgotten its customers), or in
production after a Customer was deleted in the Dashboard, every later checkout of that student
answered 502 for good.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg

from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import retrieve_session, start_checkout
from tests.support.accounts import Account
from tests.support.tiers import NewClient


def _stored_customer(db: psycopg.Connection, student: Account) -> str | None:
    row = db.execute(
        "SELECT stripe_customer_id FROM student_profiles WHERE user_id = %s", (student.id,)
    ).fetchone()
    return row[0] if row else None


def _customers_of(emulator: EmulatorServer, student: Account) -> list[str]:
    return [
        c["id"]
        for c in emulator.emulator.store.customers.values()
        if c["metadata"].get("student_id") == student.id
    ]


def _forget(emulator: EmulatorServer, customer_id: str) -> None:
    """What a restarted memory-only emulator, or a deletion in the Dashboard, leaves."""
    del emulator.emulator.store.customers[customer_id]


def test_a_missing_customer_is_replaced_and_the_checkout_succeeds(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection,
) -> None:  # fmt: skip
    start_checkout(client, student, packages["starter"]["id"])
    gone = _stored_customer(db, student)
    assert gone is not None
    _forget(stripe_emulator, gone)

    created = start_checkout(client, student, packages["value"]["id"])  # was 502

    replacement = _stored_customer(db, student)
    assert replacement is not None
    assert replacement != gone
    assert retrieve_session(stripe_emulator, created["sessionId"])["customer"] == replacement
    assert _customers_of(stripe_emulator, student) == [replacement]
    # And it stays: the next checkout reuses it.
    again = start_checkout(client, student, packages["starter"]["id"])
    assert retrieve_session(stripe_emulator, again["sessionId"])["customer"] == replacement
    assert _customers_of(stripe_emulator, student) == [replacement]


def test_racing_checkouts_replace_a_missing_customer_with_one_new_customer(
    new_client: NewClient, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection,
) -> None:  # fmt: skip
    with new_client() as http:
        start_checkout(http, student, packages["starter"]["id"])
    gone = _stored_customer(db, student)
    assert gone is not None
    _forget(stripe_emulator, gone)

    def checkout(_: int) -> httpx.Response:
        with new_client() as http:
            return http.post(
                "/api/payments/credit-checkout",
                json={"packageId": packages["starter"]["id"]},
                headers=student.headers,
            )

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(checkout, range(6)))
    assert [r.status_code for r in responses] == [201] * 6, [r.text for r in responses]
    replacement = _stored_customer(db, student)
    assert replacement not in (None, gone)
    assert _customers_of(stripe_emulator, student) == [replacement]
    customers = {
        retrieve_session(stripe_emulator, r.json()["sessionId"])["customer"] for r in responses
    }
    assert customers == {replacement}
