"""The wallet's automatic top-up panel, its forms, the failure email's link, and the back
office's view (the student page and the dashboard's counts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import psycopg

from tests.checkout.support import balance
from tests.support.accounts import Account
from tests.support.live_server import LiveServer
from tests.topups.support import VISA, failed_attempt, spend
from tests.web.support import page_client, post_form, sign_in


def test_the_wallet_panel_turns_top_up_on_and_off_and_removes_the_card(
    web_app: LiveServer, student: Account, admin: Account, client: httpx.Client,
    stripe_emulator: Any, packages: dict[str, Any], db: psycopg.Connection,
    run_jobs: Callable[[], None], invariants: None,
) -> None:  # fmt: skip
    starter = packages["starter"]
    with page_client(web_app) as http:
        sign_in(http, student.email, student.password)
        page = http.get("/wallet").text
        assert 'id="auto-top-up"' in page
        assert "Save a card" in page
        # No card: turning it on is refused with the reason, nothing stored.
        form = {"enabled": "true", "threshold": "50", "package_id": starter["id"],
                "monthly_limit_pounds": "50"}  # fmt: skip
        refused = post_form(http, "/wallet", "/wallet/auto-top-up", form)
        assert refused.status_code == 409
        assert "Save a card before turning automatic top-up on." in refused.text
        # "Save a card" goes to Stripe's setup page.
        setup = post_form(http, "/wallet", "/wallet/cards/setup", {})
        assert setup.status_code == 303
        assert "/c/pay/cs_" in setup.headers["location"]
        stripe_emulator.pay(setup.headers["location"].rsplit("/", 1)[-1], VISA)
        stripe_emulator.wait_for_deliveries()
        assert post_form(http, "/wallet", "/wallet/auto-top-up", form).status_code == 303
        page = http.get("/wallet").text
        assert 'id="top-up-state" class="status s-active">active' in page
        assert "Visa ending 4242" in page
        assert "£50.00 (£0.00 used this month)" in page

        spend(client, student, 50)
        run_jobs()
        assert balance(db, student.id) == 150
        page = http.get("/wallet").text
        assert "s-succeeded" in page
        assert "£50.00 (£10.00 used this month)" in page

        off = post_form(http, "/wallet", "/wallet/auto-top-up", form | {"enabled": "false"})
        assert off.status_code == 303
        assert 's-off">off' in http.get("/wallet").text
        [pm] = [c["id"] for c in client.get("/api/credits/payment-methods",
                                            headers=student.headers).json()]  # fmt: skip
        removed = post_form(http, "/wallet", f"/wallet/cards/{pm}/remove", {})
        assert removed.status_code == 303
        assert 'id="top-up-card">none' in http.get("/wallet").text

    with page_client(web_app) as http:
        sign_in(http, admin.email, admin.password)
        student_page = http.get(f"/admin/students/{student.id}").text
        assert "Automatic top-up" in student_page
        assert "s-succeeded" in student_page
        dashboard = http.get("/admin").text
        assert 'id="top-ups"' in dashboard
        assert (
            '<tr><td>succeeded</td><td class="num">1</td><td class="num">£10.00</td></tr>'
            in dashboard
        )


def test_the_failure_emails_link_opens_one_checkout(
    web_app: LiveServer, student: Account, client: httpx.Client, stripe_emulator: Any,
    packages: dict[str, Any], db: psycopg.Connection, run_jobs: Callable[[], None],
) -> None:  # fmt: skip
    attempt = failed_attempt(client, student, stripe_emulator, packages["starter"], db, run_jobs)
    with page_client(web_app) as http:
        sign_in(http, student.email, student.password)
        first = http.get(f"/wallet/top-ups/{attempt['id']}/pay")
        again = http.get(f"/wallet/top-ups/{attempt['id']}/pay")
        assert first.status_code == again.status_code == 303
        assert first.headers["location"] == again.headers["location"]
        assert (
            http.get("/wallet/top-ups/00000000-0000-0000-0000-000000000000/pay").status_code == 404
        )
