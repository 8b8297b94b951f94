"""A payment's page in the back office: the Stripe ids, the charge's included once Stripe
has one (asked of Stripe the first time and kept)."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import stripe_client
from tests.payments.returns_support import buy_and_pay
from tests.support.accounts import Account
from tests.support.live_server import LiveServer
from tests.web.support import admin_client


def _charge_row(db: psycopg.Connection, payment_id: str) -> str | None:
    return db.execute(  # type: ignore[no-any-return]
        "SELECT stripe_charge_id FROM payments WHERE id = %s", (payment_id,)
    ).fetchone()[0]  # type: ignore[index]


def test_a_card_payment_shows_its_charge(
    web_app: LiveServer, admin: Account, student: Account, client: httpx.Client,
    packages: dict[str, Any], stripe_emulator: EmulatorServer, db: psycopg.Connection,
    invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    charge = stripe_client(stripe_emulator).v1.payment_intents.retrieve(paid.payment_intent)
    assert str(charge.latest_charge).startswith("ch_")
    assert _charge_row(db, paid.payment_id) is None  # fulfilment knows the intent only
    with admin_client(web_app, admin) as http:
        page = http.get(f"/admin/payments/{paid.payment_id}")
        assert page.status_code == 200
        assert f"<code>{charge.latest_charge}</code>" in page.text
    # Kept: the JSON API shows it too, and Stripe need not be asked again.
    assert _charge_row(db, paid.payment_id) == charge.latest_charge
    shown = client.get(f"/api/payments/{paid.payment_id}", headers=admin.headers).json()
    assert shown["stripeChargeId"] == charge.latest_charge


def test_the_page_shows_without_a_charge_when_stripe_cannot_say(
    web_app: LiveServer, admin: Account, student: Account, client: httpx.Client,
    packages: dict[str, Any], stripe_emulator: EmulatorServer, db: psycopg.Connection,
    invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    unknown = f"pi_unknown_{paid.payment_id.replace('-', '')}"
    db.execute(
        "UPDATE payments SET stripe_payment_intent_id = %s WHERE id = %s",
        (unknown, paid.payment_id),
    )
    with admin_client(web_app, admin) as http:
        page = http.get(f"/admin/payments/{paid.payment_id}")
    assert page.status_code == 200  # Stripe's 404 for the intent is not the page's
    assert "<th>Charge</th><td><code>—</code>" in page.text
    assert _charge_row(db, paid.payment_id) is None
    db.execute(
        "UPDATE payments SET stripe_payment_intent_id = %s WHERE id = %s",
        (paid.payment_intent, paid.payment_id),
    )
