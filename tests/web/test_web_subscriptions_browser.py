"""Plans in a real browser: a student subscribes from the wallet through Stripe's hosted page,
comes back to a started plan with its credits, cancels it; the admin sees the plan and the
subscription in the back office."""

from __future__ import annotations

import re
from typing import Any

import httpx
import psycopg
import pytest

from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import balance
from tests.subscriptions.support import create_plan
from tests.support.accounts import Account
from tests.web.test_web_browser import pay_on_stripe, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("browser")]


def test_a_student_subscribes_from_the_wallet_and_cancels(
    tabs: Any, client: httpx.Client, admin: Account, student: Account,
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    plan = create_plan(client, admin, creditsPerPeriod=500, priceMinor=1500)
    before = balance(db, student.id)
    tab = tabs()
    page = tab.page
    sign_in(tab, student.email, student.password)
    page.wait_for_url(re.compile(r"/wallet$"))
    card = page.locator(f"form.package[data-plan='{plan['name']}']")
    assert "500 credits a month" in card.inner_text()
    assert "£15.00 a month" in card.inner_text()
    card.locator("button").click()
    pay_on_stripe(tab)
    page.wait_for_url(re.compile(r"/subscriptions/success\?session_id=cs_"))
    assert "your plan has started" in page.inner_text("#notice")
    assert "Your plan: 500 credits a month" in page.inner_text("#your-plan")
    assert "renews on" in page.inner_text("#your-plan")
    tab.shot("wallet-plan")
    assert balance(db, student.id) == before + 500

    page.click("#your-plan button:has-text('Cancel')")
    page.wait_for_selector("#your-plan:has-text('ends on')")
    assert "Resume" in page.inner_text("#your-plan")

    tab = tabs()
    page = tab.page
    sign_in(tab, admin.email, admin.password)
    page.wait_for_url(re.compile(r"/admin$"))
    tab.open("/admin/plans")
    assert (
        plan["name"] in page.inner_text("#plans")
        or page.locator(f"#plans input[value='{plan['name']}']").count() == 1
    )
    assert student.email in page.inner_text("#subscriptions")
    tab.shot("admin-plans")
