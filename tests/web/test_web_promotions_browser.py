"""A code in a real browser: typed on the wallet's Buy, previewed live (HTMX), the discount
shown on Stripe's hosted page, paid, and the bonus on the wallet."""

from __future__ import annotations

import re
from typing import Any

import httpx
import psycopg
import pytest

from tests.checkout.support import balance
from tests.promotions.support import create_promotion
from tests.support.accounts import Account
from tests.web.test_web_browser import pay_on_stripe, sign_in

# End-to-end: a real browser (one xdist group: one chromium).
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("browser")]


def test_a_student_previews_a_code_and_buys_with_it(
    tabs: Any, client: httpx.Client, admin: Account, student: Account,
    packages: dict[str, Any], db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    promo = create_promotion(client, admin, discountPercent=20, bonusCredits=25)
    before = balance(db, student.id)
    tab = tabs()
    sign_in(tab, student.email, student.password)
    page = tab.page
    page.wait_for_url(re.compile(r"/wallet$"))
    card = page.locator(f"form.package[data-package='{packages['starter']['name']}']")
    card.locator("input[name=promotion_code]").fill(promo["code"].lower())
    preview = card.locator(f"[data-preview='{promo['code']}']")
    preview.wait_for()
    assert "you pay £8.00" in preview.inner_text()
    assert "+ 25 bonus" in preview.inner_text()
    tab.shot("wallet-code-preview")
    card.locator("button").click()
    page.wait_for_selector("#discount")
    assert page.inner_text("#total") == "£8.00"
    assert promo["code"] in page.content()
    pay_on_stripe(tab)
    page.wait_for_url(re.compile(r"/credits/success\?session_id=cs_"))
    page.wait_for_selector("#checkout-status:text('COMPLETED')")
    assert balance(db, student.id) == before + 125


def test_the_promotions_pages_render_cleanly(
    tabs: Any, client: httpx.Client, admin: Account, student: Account,
    packages: dict[str, Any],
) -> None:  # fmt: skip
    """The back office's Promotions pages in the browser (no console error, no off-site
    request: checked when the test ends), kept as screenshots."""
    promo = create_promotion(client, admin, bonusCreditsPercent=10, description="Tour")
    client.post(
        "/api/payments/credit-checkout",
        json={"packageId": packages["value"]["id"], "promotionCode": promo["code"]},
        headers=student.headers,
    )
    tab = tabs()
    page = tab.page
    sign_in(tab, admin.email, admin.password)
    page.wait_for_url(re.compile(r"/admin$"))
    assert tab.open("/admin/promotions").status == 200
    assert promo["code"] in page.inner_text("#promotions")
    tab.shot("admin-promotions")
    assert tab.open(f"/admin/promotions/{promo['id']}").status == 200
    assert student.email in page.inner_text("#redemptions")
    tab.shot("admin-promotion")
