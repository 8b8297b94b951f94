"""The back office's forms over real HTTP: each calls the service the JSON API uses, and a
refused form changes nothing."""

from __future__ import annotations

import csv
import io
import re
import uuid
from typing import Any

import httpx
import psycopg

from medgrader.analytics.service import today_in_london
from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import balance, entry_count, start_checkout
from tests.support.accounts import Account
from tests.support.live_server import LiveServer
from tests.web.support import (
    admin_client,
    csrf_from,
    page_client,
    post_form,
    sign_in,
    spend_minutes,
)


def test_a_credit_adjustment_posts_once_per_form(
    web_app: LiveServer, admin: Account, student: Account, db: psycopg.Connection,
    invariants: None,
) -> None:  # fmt: skip
    page = f"/admin/students/{student.id}"
    with admin_client(web_app, admin) as http:
        html = http.get(page).text
        key = re.search(r'name="idempotency_key" value="([^"]+)"', html)
        assert key is not None
        form = {"amount": "25", "reason": "Goodwill", "idempotency_key": key.group(1),
                "csrf_token": csrf_from(html)}  # fmt: skip
        first = http.post(f"{page}/adjustments", data=form)
        assert first.status_code == 303
        assert first.headers["location"] == f"{page}?adjusted=25"
        again = http.post(f"{page}/adjustments", data=form)  # the form sent twice
        assert again.status_code == 303
        assert balance(db, student.id) == 125
        rows = db.execute(
            "SELECT amount, actor_id::text FROM credit_transactions"
            " WHERE student_id = %s AND source_type = 'ADMIN_ADJUSTMENT'",
            (student.id,),
        ).fetchall()
        assert rows == [(25, admin.id)]
        shown = http.get(first.headers["location"]).text
        assert "Adjustment posted: +25 credits." in shown
        assert "125 credits" in shown

        entries = entry_count(db, student.id)
        too_much = post_form(http, page, f"{page}/adjustments",
                             {"amount": "-500", "reason": "Too much"})  # fmt: skip
        assert too_much.status_code == 409
        assert "does not cover this negative adjustment" in too_much.text
        not_a_number = post_form(http, page, f"{page}/adjustments",
                                 {"amount": "ten", "reason": "x"})  # fmt: skip
        assert not_a_number.status_code == 422
        no_csrf = http.post(f"{page}/adjustments", data={"amount": "5", "reason": "x"})
        assert no_csrf.status_code == 403
        assert entry_count(db, student.id) == entries
        assert balance(db, student.id) == 125


def test_packages_are_created_edited_deactivated_and_reactivated(
    web_app: LiveServer, admin: Account, client: httpx.Client
) -> None:
    name = f"Exam Week {uuid.uuid4().hex[:6]}"
    with admin_client(web_app, admin) as http:
        fields = {"name": name, "credits": "250", "price": "£12.50", "active": "on"}
        made = post_form(http, "/admin/packages", "/admin/packages", fields)
        assert made.status_code == 303
        listed = {p["name"]: p for p in client.get("/api/credit-packages").json()}
        assert listed[name]["priceInCents"] == 1250
        assert listed[name]["credits"] == 250
        package_id = listed[name]["id"]

        clash = post_form(http, "/admin/packages", "/admin/packages",
                          {"name": name.upper(), "credits": "1", "price": "1"})  # fmt: skip
        assert clash.status_code == 409
        assert "already exists" in clash.text
        bad_price = post_form(http, "/admin/packages", "/admin/packages",
                              {"name": "Cheap", "credits": "1", "price": "1.234"})  # fmt: skip
        assert bad_price.status_code == 422
        assert "pounds" in bad_price.text

        edit = f"/admin/packages/{package_id}"
        assert 'value="12.50"' in http.get(edit).text
        fields = {"name": name, "credits": "300", "price": "13", "description": "x"}
        saved = post_form(http, edit, edit, fields)
        assert saved.status_code == 303
        one = client.get(f"/api/credit-packages/{package_id}").json()
        assert (one["credits"], one["priceInCents"], one["description"]) == (300, 1300, "x")

        off = post_form(http, "/admin/packages", f"{edit}/active", {"active": "false"})
        assert off.status_code == 303
        assert client.get(f"/api/credit-packages/{package_id}").status_code == 404
        on = post_form(http, "/admin/packages", f"{edit}/active", {"active": "true"})
        assert on.status_code == 303
        assert client.get(f"/api/credit-packages/{package_id}").json()["isActive"] is True


def test_exports_stream_csv_for_the_range(
    web_app: LiveServer, admin: Account, student: Account, client: httpx.Client,
    packages: dict[str, Any], stripe_emulator: EmulatorServer, invariants: None,
) -> None:  # fmt: skip
    spend = client.post(
        "/api/credits/spend", json={"amount": 3, "reason": "=HYPERLINK(\"http://x\")"},
        headers={**student.headers, "Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    assert spend.status_code == 201
    session_id = start_checkout(client, student, packages["starter"]["id"])["sessionId"]
    stripe_emulator.pay(session_id)
    stripe_emulator.wait_for_deliveries(timeout=20)
    today = today_in_london().isoformat()
    with admin_client(web_app, admin) as http:
        payments = http.get("/admin/exports/payments.csv", params={"from": today, "to": today})
        assert payments.status_code == 200
        assert payments.headers["content-type"].startswith("text/csv")
        assert "attachment" in payments.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(payments.text)))
        mine = [r for r in rows if r["stripe_checkout_session_id"] == session_id]
        assert len(mine) == 1
        assert (mine[0]["amount_pence"], mine[0]["amount_gbp"], mine[0]["email"]) == (
            "1000", "10.00", student.email,
        )  # fmt: skip

        ledger = http.get("/admin/exports/ledger.csv", params={"from": today, "to": today})
        entries = [r for r in csv.DictReader(io.StringIO(ledger.text))
                   if r["student_id"] == student.id]  # fmt: skip
        assert [e["source_type"] for e in entries] == ["WELCOME_BONUS", "USAGE", "PURCHASE"]
        # A spreadsheet would run this cell as a formula: it is quoted.
        assert entries[1]["description"] == '\'=HYPERLINK("http://x")'
        # The lots: the purchase's lot worth 1000p; the spend took 3 from the welcome lot.
        welcome_lot = entries[0]["lots"]
        assert entries[1]["lots"] == f"{welcome_lot}:3"
        assert (entries[1]["value_minor"], entries[2]["value_minor"]) == ("", "1000")
        assert (
            http.get(
                "/admin/exports/ledger.csv", params={"from": "2019-01-01", "to": "2019-01-01"}
            ).text.count("\n")
            == 1
        )

        refused = http.get("/admin/exports/ledger.csv", params={"from": today, "to": "2019-01-01"})
        assert refused.status_code == 422


def test_students_are_found_by_email_and_name(
    web_app: LiveServer, admin: Account, student: Account
) -> None:
    with admin_client(web_app, admin) as http:
        by_email = http.get("/admin/students", params={"q": student.email.upper()})
        assert f"/admin/students/{student.id}" in by_email.text
        by_name = http.get("/admin/students", params={"q": "ada lovel"})
        assert "Ada Lovelace" in by_name.text
        nobody = http.get("/admin/students", params={"q": "%no such person%"})
        assert "No student matches." in nobody.text
        assert http.get("/admin/students/not-a-uuid").status_code == 404
        assert http.get(f"/admin/students/{uuid.uuid4()}").status_code == 404


def test_webhook_events_list_filters_and_shows_the_payload(
    web_app: LiveServer, admin: Account, student: Account, client: httpx.Client,
    packages: dict[str, Any], stripe_emulator: EmulatorServer, db: psycopg.Connection,
) -> None:  # fmt: skip
    session_id = start_checkout(client, student, packages["starter"]["id"])["sessionId"]
    stripe_emulator.pay(session_id)
    stripe_emulator.wait_for_deliveries(timeout=20)
    row = db.execute(
        "SELECT id FROM webhook_events WHERE type = 'checkout.session.completed'"
        " AND strpos(payload::text, %s) > 0",
        (session_id,),
    ).fetchone()
    assert row is not None
    with admin_client(web_app, admin) as http:
        listed = http.get("/admin/webhook-events", params={"type": "checkout.session.completed"})
        assert row[0] in listed.text
        detail = http.get(f"/admin/webhook-events/{row[0]}")
        assert detail.status_code == 200
        assert session_id in detail.text
        assert "fulfilled" in detail.text
        assert http.get("/admin/webhook-events/evt_nope").status_code == 404
        unprocessed = http.get("/admin/webhook-events", params={"status": "unprocessed"})
        assert row[0] not in unprocessed.text


def test_the_wallet_pages_its_history(
    web_app: LiveServer, student: Account, client: httpx.Client
) -> None:
    spend_minutes(client, student, 24, "Minute")
    with page_client(web_app) as http:
        sign_in(http, student.email, student.password)
        wallet = http.get("/wallet").text
        assert "Minute 23" in wallet
        assert wallet.count("Minute ") == 20  # the 20 newest entries
        assert "Welcome bonus" not in wallet
        more = re.search(r'hx-get="(/wallet/history\?cursor=[^"]+)"', wallet)
        assert more is not None
        older = http.get(more.group(1).replace("&amp;", "&")).text
        assert older.count("Minute ") == 4
        assert "Welcome bonus" in older
        assert "Older entries" not in older
        assert http.get("/wallet/history", params={"cursor": "!!"}).status_code == 400


def test_only_the_buyer_sees_the_success_page(
    web_app: LiveServer, student: Account, admin: Account, client: httpx.Client,
    packages: dict[str, Any], mailbox: Any,
) -> None:  # fmt: skip
    from tests.support.accounts import sign_up

    session_id = start_checkout(client, student, packages["starter"]["id"])["sessionId"]
    path = f"/credits/success?session_id={session_id}"
    with page_client(web_app) as http:
        assert http.get(path).status_code == 303  # anonymous: sign in first
    other = sign_up(client, mailbox)
    for account in (other, admin):
        with page_client(web_app) as http:
            sign_in(http, account.email, account.password)
            assert http.get(path).status_code == 404
    with page_client(web_app) as http:
        sign_in(http, student.email, student.password)
        page = http.get(path)
        assert page.status_code == 200
        assert "PENDING" in page.text  # not paid yet; the page polls
        assert 'hx-trigger="every 3s"' in page.text
        assert http.get("/credits/success?session_id=cs_nope").status_code == 404


def test_run_now_from_the_dashboard(web_app: LiveServer, admin: Account) -> None:
    with page_client(web_app) as http:
        sign_in(http, admin.email, admin.password)
        assert post_form(http, "/admin", "/admin/audit", {}).status_code == 303
        assert "Clean: every balance matches its ledger" in http.get("/admin").text


def test_a_refund_of_credits_already_spent_is_explained_before_it_is_confirmed(
    web_app: LiveServer, admin: Account, student: Account, client: httpx.Client,
    packages: dict[str, Any], stripe_emulator: EmulatorServer, db: psycopg.Connection,
    invariants: None,
) -> None:  # fmt: skip
    session_id = start_checkout(client, student, packages["starter"]["id"])["sessionId"]
    stripe_emulator.pay(session_id)
    stripe_emulator.wait_for_deliveries(timeout=20)
    spend_minutes(client, student, 150, "Spent")
    assert balance(db, student.id) == 50
    payment_id = db.execute(
        "SELECT id::text FROM payments WHERE stripe_checkout_session_id = %s", (session_id,)
    ).fetchone()[0]  # type: ignore[index]
    page = f"/admin/payments/{payment_id}"
    with admin_client(web_app, admin) as http:
        preview = http.get(f"{page}/refund", params={"amount": ""})  # everything left
        assert preview.status_code == 200
        text = re.sub(r"\s+", " ", preview.text)
        assert "takes back 100 credits from a balance of 50, leaving -50" in text
        assert "Refunding at most £5.00 keeps the balance at zero or above." in text
        assert 'name="allow_negative_balance"' in text
        key = re.search(r'name="idempotency_key" value="([^"]+)"', preview.text)
        assert key is not None
        form = {"amount_pence": "1000", "idempotency_key": key.group(1)}

        refused = post_form(http, page, f"{page}/refund", form)
        assert refused.status_code == 409
        assert "has spent some of these credits" in refused.text
        assert balance(db, student.id) == 50  # nothing refunded
        assert db.execute(
            "SELECT count(*) FROM refunds WHERE payment_id = %s", (payment_id,)
        ).fetchone() == (0,)

        confirmed = post_form(http, page, f"{page}/refund",
                              {**form, "allow_negative_balance": "true"})  # fmt: skip
        assert confirmed.status_code == 303
        stripe_emulator.wait_for_deliveries(timeout=20)
        assert balance(db, student.id) == -50
        again = post_form(
            http, page, f"{page}/refund", {**form, "allow_negative_balance": "true"}
        )  # the form resent
        assert again.status_code == 303
        assert db.execute(
            "SELECT count(*), sum(amount_pence) FROM refunds WHERE payment_id = %s",
            (payment_id,),
        ).fetchone() == (1, 1000)
        shown = http.get(page).text
        assert "Nothing is left to refund." in shown
    with page_client(web_app) as http:
        sign_in(http, student.email, student.password)
        wallet = http.get("/wallet").text
        assert "-50 credits" in wallet
        assert "spending is paused until you top up" in wallet
        assert "(\u2212100 credits)" in wallet  # the refund and what it took back (a minus sign)


def test_credits_held_by_a_live_session_show_on_the_wallet_and_the_student_page(
    web_app: LiveServer, admin: Account, student: Account, client: httpx.Client
) -> None:
    held = client.post(
        "/api/credits/holds", json={"amount": 30, "reason": "Voice call"},
        headers={**student.headers, "Idempotency-Key": f"hold-{student.id}"},
    )  # fmt: skip
    assert held.status_code == 201, held.text
    with page_client(web_app) as http:
        sign_in(http, student.email, student.password)
        wallet = http.get("/wallet").text
        assert "100 credits" in wallet
        assert "30 held by a live session · 70 available to spend" in wallet
    hold_id = held.json()["holdId"]
    with admin_client(web_app, admin) as http:
        page = http.get(f"/admin/students/{student.id}").text
        assert "30 (70 available)" in page
        # The student's active holds, listed: when, why, how much, until when, which.
        listed = page[page.index('id="active-holds"') :]
        row = listed[: listed.index("</tr>", listed.index(hold_id))]
        assert "Voice call" in row
        assert '<td class="num">30</td>' in row
    released = client.post(
        f"/api/credits/holds/{hold_id}/release",
        headers={**student.headers, "Idempotency-Key": f"release-{student.id}"},
    )
    assert released.status_code == 200, released.text
    with page_client(web_app) as http:
        sign_in(http, student.email, student.password)
        assert "held by a live session" not in http.get("/wallet").text
    with admin_client(web_app, admin) as http:
        page = http.get(f"/admin/students/{student.id}").text
        assert hold_id not in page
        assert "None: no live session holds credits." in page
