"""The pages in a real browser (Playwright driving Debian's chromium): what a student and an
admin do, with no console error and no request leaving the app on any page."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
import psycopg
import pytest

from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import balance, payments_for, start_checkout, webhooks_paused
from tests.conftest import STRIPE_SECRET_KEY
from tests.support.accounts import Account, unique_email
from tests.support.mailbox import Mailbox
from tests.web.support import spend_minutes

# End-to-end: a real browser (one xdist group: one chromium).
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("browser")]

GOOD_CARD = "4242 4242 4242 4242"


def sign_in(tab: Any, email: str, password: str) -> None:
    tab.open("/login")
    tab.page.fill("input[name=email]", email)
    tab.page.fill("input[name=password]", password)
    tab.page.click("button[type=submit]")


def pay_on_stripe(tab: Any, card: str = GOOD_CARD) -> None:
    page = tab.page
    page.wait_for_selector("input[name=card_number]")
    if page.locator("input[name=email]:not([readonly])").count():
        page.fill("input[name=email]", "buyer@example.com")
    page.fill("input[name=card_number]", card)
    page.fill("input[name=card_expiry]", "12 / 34")
    page.fill("input[name=card_cvc]", "123")
    tab.shot("stripe-checkout")
    page.click("button[type=submit]")


def test_a_new_student_signs_up_buys_the_starter_pack_and_sees_it(
    tabs: Any, mailbox: Mailbox, packages: dict[str, Any], db: psycopg.Connection,
    stripe_emulator: EmulatorServer, invariants: None,
) -> None:  # fmt: skip
    tab = tabs()
    page = tab.page
    email = unique_email("browser")
    tab.open("/signup")
    tab.shot("signup")
    page.fill("input[name=firstName]", "Rosalind")
    page.fill("input[name=lastName]", "Franklin")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", "a long password")
    page.click("button[type=submit]")
    page.wait_for_selector("input[name=code]")
    tab.shot("verify")
    page.fill("input[name=code]", mailbox.latest_otp(email))
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/wallet$"))
    assert page.inner_text("#balance") == "100 credits"
    tab.shot("wallet")

    starter = packages["starter"]["name"]
    card = page.locator(f"form.package[data-package='{starter}']")
    assert "£10.00" in card.inner_text()
    assert "10.0p per credit" in card.inner_text()
    card.locator("button").click()
    pay_on_stripe(tab)
    page.wait_for_url(re.compile(r"/credits/success\?session_id=cs_"))
    page.wait_for_selector("#checkout-status:text('COMPLETED')")
    assert page.inner_text("#balance") == "200 credits"
    tab.shot("credits-success")

    page.click("text=Back to your wallet")
    assert page.inner_text("#balance") == "200 credits"
    payments = page.inner_text("#payments")
    assert starter in payments
    assert "£10.00" in payments
    history = page.inner_text("#history")
    assert "+100" in history  # the purchase entry
    student_id = db.execute("SELECT id::text FROM users WHERE email = %s", (email,)).fetchone()
    assert student_id is not None
    assert balance(db, student_id[0]) == 200
    stripe_emulator.wait_for_deliveries(timeout=20)
    rows = db.execute(
        "SELECT stripe_checkout_session_id FROM payments WHERE student_id = %s", (student_id[0],)
    ).fetchall()
    assert len(rows) == 1
    assert len(payments_for(db, rows[0][0])) == 1


def test_a_student_opening_admin_gets_403(tabs: Any, student: Account) -> None:
    tab = tabs()
    sign_in(tab, student.email, student.password)
    tab.page.wait_for_url(re.compile(r"/wallet$"))
    response = tab.open("/admin")
    assert response.status == 403
    assert "administrators only" in tab.page.inner_text("main")
    tab.shot("admin-forbidden")


def test_a_form_posted_without_its_csrf_token_is_refused(
    tabs: Any, admin: Account, db: psycopg.Connection
) -> None:
    tab = tabs()
    sign_in(tab, admin.email, admin.password)
    tab.page.wait_for_url(re.compile(r"/admin$"))
    tab.open("/admin/packages")
    name = f"No CSRF {unique_email('pkg')}"[:90]
    form = tab.page.locator("#new-package")
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=credits]").fill("10")
    form.locator("input[name=price]").fill("1.00")
    # What a forged cross-site form looks like: everything but the token.
    tab.page.eval_on_selector("#new-package input[name=csrf_token]", "e => e.remove()")
    with tab.page.expect_response(lambda r: r.url.endswith("/admin/packages")) as answer:
        form.locator("button[type=submit]").click()
    assert answer.value.status == 403
    assert "did not come from this site" in tab.page.inner_text("main")
    found = db.execute("SELECT count(*) FROM credit_packages WHERE name = %s", (name,)).fetchone()
    assert found == (0,)
    tab.shot("csrf-refused")


def pence(text: str) -> int:
    """ "£1,234.56" -> 123456 (what the pages show, back to integer pence)."""
    match = re.search(r"(-?)£([\d,]+)\.(\d\d)", text)
    assert match is not None, text
    sign = -1 if match.group(1) else 1
    return sign * (int(match.group(2).replace(",", "")) * 100 + int(match.group(3)))


def today_card(tab: Any) -> dict[str, int]:
    card = tab.page.locator("#revenue-cards .figure").first
    return {
        name: pence(card.locator(f".{name}").inner_text())
        for name in ("net", "gross", "refunds", "disputes")
    } | {"payments": int(card.locator(".count").inner_text())}


def package_row(tab: Any, name: str) -> list[str]:
    row = tab.page.locator("#by-package tbody tr", has_text=name)
    return [cell.strip() for cell in row.inner_text().split("\t")]


def test_an_admin_sees_a_purchase_in_the_figures_and_refunds_half_of_it(
    tabs: Any, admin: Account, student: Account, client: Any, db: psycopg.Connection,
    stripe_emulator: EmulatorServer, invariants: None,
) -> None:  # fmt: skip
    # A package of this test's own: its row in "Sales by package" is this purchase alone,
    # whatever else the suite (a late webhook, reconciliation) adds to today's totals.
    name = f"Figures {uuid.uuid4().hex[:8]}"
    made = client.post(
        "/api/credit-packages", json={"name": name, "credits": 100, "priceInCents": 1000},
        headers=admin.headers,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    tab = tabs()
    page = tab.page
    sign_in(tab, admin.email, admin.password)
    page.wait_for_url(re.compile(r"/admin$"))
    before = today_card(tab)
    assert page.locator("#by-package tbody tr", has_text=name).count() == 0

    session_id = start_checkout(client, student, made.json()["id"])["sessionId"]
    stripe_emulator.pay(session_id)
    stripe_emulator.wait_for_deliveries(timeout=20)
    assert balance(db, student.id) == 200

    tab.open("/admin")
    after_sale = today_card(tab)
    assert package_row(tab, name) == [name, "1", "100", "£10.00"]
    assert after_sale["gross"] >= before["gross"] + 1000
    assert after_sale["payments"] >= before["payments"] + 1
    tab.shot("admin-dashboard")

    tab.open(f"/admin/payments?student={student.email}")
    tab.shot("admin-payments")
    page.locator("#payments tbody a").first.click()
    page.wait_for_selector("#refund-preview-form")
    assert page.inner_text("#payment-status") == "SUCCEEDED"
    page.fill("#refund-preview-form input[name=amount]", "5.00")
    page.click("#refund-preview-form button")
    page.wait_for_selector("#refund-preview")
    assert page.inner_text("#preview-amount") == "£5.00"
    assert page.inner_text("#preview-clawback") == "50"
    assert page.inner_text("#preview-balance") == "200 → 150"
    tab.shot("admin-refund-preview")
    assert balance(db, student.id) == 200  # nothing happens before the confirmation
    page.click("#refund-confirm button")
    page.wait_for_selector("text=Refund of £5.00 sent to Stripe.")
    assert page.inner_text("#payment-status") == "PARTIALLY_REFUNDED"
    assert "£5.00" in page.inner_text("#refunds")
    tab.shot("admin-payment")
    stripe_emulator.wait_for_deliveries(timeout=20)
    assert balance(db, student.id) == 150

    tab.open(f"/admin/students/{student.id}")
    assert page.inner_text("#balance") == "150 credits"
    tab.shot("admin-student")
    tab.open("/admin")
    after_refund = today_card(tab)
    assert after_refund["refunds"] >= after_sale["refunds"] + 500
    # A refund leaves the sale's gross as it was; net is gross less what went back.
    assert package_row(tab, name) == [name, "1", "100", "£10.00"]
    assert after_refund["net"] == (
        after_refund["gross"] - after_refund["refunds"] - after_refund["disputes"]
    )

    # Exactly, in a custom range: this test's rows moved to a day nobody else writes to.
    own_day = "2018-06-20"
    _move_to_day(db, session_id, f"{own_day} 09:30:00+01")
    tab.open(f"/admin?from={own_day}&to={own_day}")
    figures = {k: pence(page.inner_text(f"#range-{k}")) for k in ("gross", "refunds", "net")}
    assert figures == {"gross": 1000, "refunds": 500, "net": 500}
    assert package_row(tab, name) == [name, "1", "100", "£10.00"]
    tab.shot("admin-dashboard-range")


def _move_to_day(db: psycopg.Connection, session_id: str, at: str) -> None:
    db.execute(
        "UPDATE checkout_sessions SET created_at = %s, completed_at = %s"
        " WHERE stripe_session_id = %s", (at, at, session_id),
    )  # fmt: skip
    db.execute(
        "UPDATE payments SET paid_at = %s WHERE stripe_checkout_session_id = %s", (at, session_id)
    )
    db.execute(
        "UPDATE refunds SET created_at = %s WHERE payment_id IN"
        " (SELECT id FROM payments WHERE stripe_checkout_session_id = %s)", (at, session_id),
    )  # fmt: skip


def test_an_admin_replays_an_unprocessed_event(
    tabs: Any, admin: Account, student: Account, packages: dict[str, Any], client: Any,
    live_app: Any, db: psycopg.Connection, stripe_emulator: EmulatorServer,
    invariants: None,
) -> None:  # fmt: skip
    """A paid session whose completion event is in the inbox but was never processed (its
    handling failed, say): Replay credits it, exactly once."""
    session_id = start_checkout(client, student, packages["starter"]["id"])["sessionId"]
    with webhooks_paused(stripe_emulator, live_app.url):
        stripe_emulator.pay(session_id)
    listed = httpx.get(
        f"{stripe_emulator.url}/v1/events", params={"type": "checkout.session.completed"},
        headers={"Authorization": f"Bearer {STRIPE_SECRET_KEY}"}, timeout=10,
    ).json()["data"]  # fmt: skip
    event = next(e for e in listed if e["data"]["object"]["id"] == session_id)
    db.execute(
        "INSERT INTO webhook_events (id, type, payload, outcome) VALUES (%s, %s, %s, %s)",
        (event["id"], event["type"], json.dumps(event), "failed: database unavailable"),
    )
    assert balance(db, student.id) == 100

    tab = tabs()
    page = tab.page
    sign_in(tab, admin.email, admin.password)
    page.wait_for_url(re.compile(r"/admin$"))
    tab.open("/admin/webhook-events?status=failed")
    tab.shot("admin-webhook-events")
    page.click(f"a:has-text('{event['id']}')")
    page.wait_for_selector("#replay")
    assert session_id in page.inner_text("pre.payload")
    tab.shot("admin-webhook-event")
    page.click("#replay button")
    page.wait_for_selector("text=Replayed: fulfilled.")
    assert page.inner_text("#outcome") == "fulfilled"
    assert page.locator("#replay").count() == 0  # processed: nothing left to replay
    assert balance(db, student.id) == 200
    assert len(payments_for(db, session_id)) == 1


def test_every_page_renders_cleanly(
    tabs: Any, admin: Account, student: Account, packages: dict[str, Any], client: Any,
    stripe_emulator: EmulatorServer, db: psycopg.Connection,
) -> None:  # fmt: skip
    """The pages the scenarios above do not pass through, each opened in the browser (no
    console error, no off-site request: checked when the test ends) and kept as a screenshot;
    the wallet's "Older entries" button loads the next page of history in place (HTMX)."""
    spend_minutes(client, student, 22, "Tour minute")
    session_id = start_checkout(client, student, packages["value"]["id"])["sessionId"]
    stripe_emulator.pay(session_id)
    stripe_emulator.wait_for_deliveries(timeout=20)
    payment_id = payments_for(db, session_id)[0]["id"]

    tab = tabs()
    page = tab.page
    tab.open("/login")
    tab.shot("login")
    sign_in(tab, student.email, student.password)
    page.wait_for_url(re.compile(r"/wallet$"))
    assert page.locator("#history tbody tr").count() == 21  # 20 entries and the button
    page.click("text=Older entries")
    page.wait_for_selector("#history td:has-text('Welcome bonus')")
    assert page.locator("#history tbody tr").count() == 24  # all 24 entries, no button
    assert page.url.endswith("/wallet")  # loaded in place, not by navigating
    tab.open(f"/wallet/payments/{payment_id}")
    assert "£45.00" in page.inner_text("main")
    tab.shot("wallet-payment")
    tab.open("/credits/cancel")
    assert "Nothing was charged" in page.inner_text("main")
    tab.shot("credits-cancel")

    tab = tabs()
    page = tab.page
    sign_in(tab, admin.email, admin.password)
    page.wait_for_url(re.compile(r"/admin$"))
    for path, name, expected in (
        (f"/admin/students?q={student.email}", "admin-students", student.email),
        ("/admin/packages", "admin-packages", packages["value"]["name"]),
        (f"/admin/packages/{packages['value']['id']}", "admin-package", "Save"),
        ("/admin/exports", "admin-exports", "Download ledger.csv"),
        ("/admin/nothing-here", "not-found", "No such page."),
    ):
        response = tab.open(path)
        assert response.status == (404 if name == "not-found" else 200), path
        assert expected in page.inner_text("main"), path
        tab.shot(name)
