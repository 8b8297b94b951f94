"""The wallet says how many unused credits of a plan roll over, and a rolled-over lot is shown
as such in the history and in the back office's lots."""

from __future__ import annotations

import httpx
import psycopg

from tests.subscriptions.rollover_support import expire, period_lot, sweep
from tests.subscriptions.support import create_plan
from tests.support.accounts import Account
from tests.support.live_server import LiveServer
from tests.support.services import ServiceRunner
from tests.web.support import admin_client, page_client, sign_in


def test_the_wallet_and_the_back_office_show_rollover(
    web_app: LiveServer, client: httpx.Client, admin: Account, student: Account,
    services: ServiceRunner, db: psycopg.Connection,
) -> None:  # fmt: skip
    create_plan(client, admin, creditsPerPeriod=300, rolloverMaxCredits=75)
    period = period_lot(services, db, student.id, credits=60, price=600, cap=25)
    expire(db, period.lot_id)
    sweep(services)
    with page_client(web_app) as http:
        assert sign_in(http, student.email, student.password).status_code == 303
        wallet = http.get("/wallet").text
    assert "Up to 75 unused credits roll over" in wallet  # the plan on sale
    assert 'id="rollover"' in wallet  # the student's own plan (cap 25)
    assert "Up to 25 credits of a period you have not used roll over" in wallet
    assert "25 credits rolled over from the last period" in wallet
    assert "25 credits rolled over to the next period" in wallet
    with admin_client(web_app, admin) as http:
        page = http.get(f"/admin/students/{student.id}").text
    assert "ROLLOVER" in page
    assert "£2.50" in page  # the 25 credits' value share of the 60 worth £6.00
