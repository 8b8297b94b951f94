"""Plans on the pages: the back office creates, renames and deactivates plans and lists the
subscriptions; the wallet shows the plans with Subscribe, then "Your plan" with Cancel /
Resume / Change plan / Manage card. Each calls the flows the JSON API uses."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from tests.checkout.support import balance, settle_webhooks
from tests.subscriptions.support import create_plan
from tests.support.accounts import Account
from tests.support.live_server import LiveServer
from tests.web.support import admin_client, page_client, post_form, sign_in


def test_the_back_office_makes_and_deactivates_plans(
    web_app: LiveServer, admin: Account, db: psycopg.Connection
) -> None:
    with admin_client(web_app, admin) as http:
        bad = {"name": "Bad", "credits": "0", "price": "5.00", "interval": "month"}
        refused = post_form(http, "/admin/plans", "/admin/plans", bad)
        assert refused.status_code == 422
        made = post_form(http, "/admin/plans", "/admin/plans", {
            "name": "Monthly 500", "description": "", "credits": "500", "price": "15.00",
            "interval": "month", "rollover": "100",
        })  # fmt: skip
        assert made.status_code == 303, made.text
        row = db.execute(
            "SELECT id, credits_per_period, price_pence, rollover_max_credits FROM plans"
        ).fetchone()
        assert row is not None
        assert row[1:] == (500, 1500, 100)
        page = http.get("/admin/plans").text
        assert 'data-plan="Monthly 500"' in page
        assert 'id="subscriptions"' in page
        renamed = post_form(http, "/admin/plans", f"/admin/plans/{row[0]}",
                            {"name": "Monthly five hundred", "description": "Best"})  # fmt: skip
        assert renamed.status_code == 303
        off = post_form(http, "/admin/plans", f"/admin/plans/{row[0]}", {"active": "false"})
        assert off.status_code == 303
        assert db.execute("SELECT name, is_active FROM plans").fetchone() == (
            "Monthly five hundred", False)  # fmt: skip


def test_the_wallet_subscribes_and_manages_the_plan(
    web_app: LiveServer, client: httpx.Client, admin: Account, student: Account,
    stripe_emulator: Any, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    plan = create_plan(client, admin, creditsPerPeriod=500, priceMinor=1500)
    other = create_plan(client, admin, creditsPerPeriod=800, priceMinor=2200)
    before = balance(db, student.id)
    with page_client(web_app) as http:
        assert sign_in(http, student.email, student.password).status_code == 303
        wallet = http.get("/wallet").text
        assert f'data-plan="{plan["name"]}"' in wallet
        assert "Subscribe" in wallet
        went = post_form(http, "/wallet", "/wallet/subscribe", {"plan_id": plan["id"]})
        assert went.status_code == 303
        (session_id,) = db.execute(
            "SELECT stripe_checkout_session_id FROM subscriptions WHERE student_id = %s",
            (student.id,),
        ).fetchone() or (None,)
        assert session_id is not None
        assert went.headers["location"].endswith(session_id)
        stripe_emulator.pay(session_id)
        back = http.get("/subscriptions/success", params={"session_id": session_id})
        assert back.status_code == 200
        assert "your plan has started" in back.text
        settle_webhooks(stripe_emulator)
        assert balance(db, student.id) == before + 500

        wallet = http.get("/wallet").text
        assert "Your plan: 500 credits a month" in wallet
        assert "renews on" in wallet
        canceled = post_form(http, "/wallet", "/wallet/subscription/cancel", {})
        assert canceled.status_code == 200
        assert "ends on" in canceled.text
        resumed = post_form(http, "/wallet", "/wallet/subscription/resume", {})
        assert "renews on" in resumed.text
        changed = post_form(http, "/wallet", "/wallet/subscription/change",
                            {"plan_id": other["id"]})  # fmt: skip
        assert changed.status_code == 200, changed.text
        assert f"From the next renewal: {other['name']}" in changed.text
        card = post_form(http, "/wallet", "/wallet/subscription/portal", {})
        assert card.status_code == 303
        assert "/p/session/" in card.headers["location"]
