"""Promotions on the pages: the back office's list, create, edit, deactivate and redemptions;
the wallet's code field with its live preview, the auto-apply offer on the packages, and the
"Redeem a code" form. Each calls the services the JSON API uses."""

from __future__ import annotations

import re
from typing import Any

import httpx
import psycopg

from tests.checkout.support import balance
from tests.promotions.support import create_promotion, promotion_count, redemptions
from tests.support.accounts import Account
from tests.support.live_server import LiveServer
from tests.web.support import admin_client, csrf_from, page_client, post_form, sign_in


def test_the_back_office_creates_edits_and_deactivates_a_promotion(
    web_app: LiveServer, admin: Account, packages: dict[str, Any], db: psycopg.Connection,
    invariants: None,
) -> None:  # fmt: skip
    with admin_client(web_app, admin) as http:
        refused = post_form(http, "/admin/promotions", "/admin/promotions",
                            {"code": "NOTHING-AT-ALL"})  # fmt: skip
        assert refused.status_code == 422
        assert "a promotion needs a discount" in refused.text
        assert promotion_count(db) == 0
        token = csrf_from(http.get("/admin/promotions").text)
        made = http.post("/admin/promotions", data={
            "csrf_token": token, "code": "spring-25", "description": "Spring",
            "discount_percent": "25", "bonus_credits": "10", "max_redemptions": "50",
            "package_ids": [packages["premium"]["id"]], "ends_at": "2031-01-01T00:00",
        })  # fmt: skip
        assert made.status_code == 303, made.text
        page = made.headers["location"]
        shown = http.get(page).text
        assert "Promotion SPRING-25" in shown
        assert "25% off" in shown
        assert "+10 bonus credits" in shown
        assert "SPRING-25" in http.get("/admin/promotions").text
        edited = post_form(
            http, page, page, {"description": "Spring sale", "max_redemptions": "60"}
        )
        assert edited.status_code == 303
        row = db.execute(
            "SELECT description, max_redemptions, active, package_ids::text FROM promotions"
        ).fetchone()
        assert row == ("Spring sale", 60, True, "{" + packages["premium"]["id"] + "}")
        off = post_form(http, page, f"{page}/active", {"active": "false"})
        assert off.status_code == 303
        assert db.execute("SELECT active FROM promotions").fetchone() == (False,)
        assert "(inactive)" in http.get(page).text
        dashboard = http.get("/admin").text
        assert 'id="range-discounts"' in dashboard
        assert 'id="range-promotion-credits"' in dashboard


def test_the_wallet_previews_a_code_buys_with_it_and_redeems_a_credit_code(
    web_app: LiveServer, client: httpx.Client, admin: Account, student: Account,
    packages: dict[str, Any], db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    welcome = create_promotion(client, admin, bonusCredits=20, firstPurchaseOnly=True,
                               autoApply=True)  # fmt: skip
    half = create_promotion(client, admin, discountPercent=50)
    gift = create_promotion(client, admin, grantCredits=30, creditsExpireDays=7)
    starter = packages["starter"]["id"]
    with page_client(web_app) as http:
        assert sign_in(http, student.email, student.password).status_code == 303
        wallet = http.get("/wallet").text
        assert f'data-offer="{welcome["code"]}"' in wallet  # the first-time buyer bonus
        assert "+20 bonus credits" in wallet
        typed = {"package_id": starter, "promotion_code": half["code"].lower()}
        figures = http.get("/wallet/preview", params=typed)
        assert f'data-preview="{half["code"]}"' in figures.text
        assert "£5.00" in figures.text
        wrong = http.get("/wallet/preview", params={"package_id": starter,
                                                     "promotion_code": gift["code"]})  # fmt: skip
        assert 'data-preview="refused"' in wrong.text
        assert "credit code" in wrong.text

        bought = post_form(http, "/wallet", "/wallet/buy",
                           {"package_id": starter, "promotion_code": half["code"]})  # fmt: skip
        assert bought.status_code == 303
        row = db.execute(
            "SELECT amount_pence, discount_pence FROM checkout_sessions WHERE student_id = %s",
            (student.id,),
        ).fetchone()
        assert row == (500, 500)
        assert [r["status"] for r in redemptions(db, half["id"])] == ["RESERVED"]

        before = balance(db, student.id)
        html = http.get("/wallet").text
        key = re.search(r'name="redeem_key" value="([^"]+)"', html)
        assert key is not None
        form = {"csrf_token": csrf_from(html), "redeem_key": key.group(1),
                "code": gift["code"].lower()}  # fmt: skip
        first = http.post("/wallet/redeem", data=form)
        assert first.status_code == 200
        assert "30 credits added" in first.text
        again = http.post("/wallet/redeem", data=form)  # the form sent twice: once
        assert "30 credits added" in again.text
        assert balance(db, student.id) == before + 30
        used = post_form(http, "/wallet", "/wallet/redeem",
                         {"code": gift["code"], "redeem_key": "another-key-123"})  # fmt: skip
        assert used.status_code == 422
        assert "already used this code" in used.text
