"""The wallet shows bought and bonus credits apart and when credits expire; a student's page
in the back office shows their lots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.lots.support import grant
from tests.support.accounts import Account
from tests.support.live_server import LiveServer
from tests.support.services import ServiceRunner
from tests.web.support import admin_client, page_client, sign_in


def test_the_wallet_and_the_back_office_show_lots(
    web_app: LiveServer, admin: Account, student: Account, services: ServiceRunner
) -> None:
    at = datetime(2027, 3, 3, 12, 0, tzinfo=UTC)
    if at <= datetime.now(UTC) + timedelta(days=1):  # (a date always in the future)
        at = datetime.now(UTC) + timedelta(days=30)
    grant(services, student.id, 40, expires_at=at)
    grant(services, student.id, 7, value_minor=70)
    with page_client(web_app) as http:
        assert sign_in(http, student.email, student.password).status_code == 303
        wallet = http.get("/wallet").text
    assert "7 bought · 140 bonus" in wallet
    assert f"40 credits expire on {at.day} {at:%B %Y}" in wallet
    with admin_client(web_app, admin) as http:
        page = http.get(f"/admin/students/{student.id}").text
    assert 'id="lots"' in page
    assert "WELCOME_BONUS" in page
    assert "ADMIN_GRANT" in page
    assert "£0.70" in page
