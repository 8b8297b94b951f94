"""The browser session over real HTTP: cookie flags, sign-in, CSRF, role gates, logout."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from pydantic import SecretStr

from medgrader.config import Environment, Settings
from medgrader.web.session import COOKIE_NAME, BrowserSession, SessionCodec
from tests.support.accounts import Account
from tests.support.live_server import LiveServer
from tests.support.services import ServiceRunner
from tests.web.support import csrf_from, page_client, post_form, require_browser, sign_in


def test_anonymous_visitors_are_sent_to_login(web_app: LiveServer) -> None:
    with page_client(web_app) as http:
        for path in ("/wallet", "/admin", "/admin/payments?status=REFUNDED", "/credits/cancel"):
            response = http.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login?next=/")
        assert http.get("/admin").headers["location"] == "/login?next=/admin"


def test_the_cookie_is_httponly_samesite_and_secure_outside_development(
    web_app: LiveServer, settings: Settings
) -> None:
    with page_client(web_app) as http:
        cookie = http.get("/login").headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # the test environment serves plain HTTP on loopback
    with page_client(web_app) as http:
        headers = http.get("/login").headers
    assert headers["cache-control"] == "no-store"
    assert headers["content-security-policy"].startswith("default-src 'self';")
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    production = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment=Environment.PRODUCTION,
        jwt_secret="p" * 40,
        stripe_secret_key="sk_test_x",
        stripe_webhook_secret="whsec_x",
    )
    assert SessionCodec(production).secure
    assert not SessionCodec(settings.model_copy(update={"environment": "development"})).secure


def test_sign_in_needs_the_forms_csrf_token(web_app: LiveServer, student: Account) -> None:
    with page_client(web_app) as http:
        token = csrf_from(http.get("/login").text)
        form = {"email": student.email, "password": student.password}
        refused = http.post("/login", data=form)
        assert refused.status_code == 403
        assert "did not come from this site" in refused.text
        assert http.post("/login", data={**form, "csrf_token": token + "x"}).status_code == 403
        assert http.get("/wallet").status_code == 303  # still signed out

        signed = http.post("/login", data={**form, "csrf_token": token})
        assert signed.status_code == 303
        assert signed.headers["location"] == "/wallet"
        wallet = http.get("/wallet")
        assert wallet.status_code == 200
        assert student.email in wallet.text
        # A fresh CSRF secret after sign-in: the anonymous one is worthless now.
        assert csrf_from(wallet.text) != token


def test_wrong_password_is_shown_on_the_form(web_app: LiveServer, student: Account) -> None:
    with page_client(web_app) as http:
        response = sign_in(http, student.email, "not-the-password")
        assert response.status_code == 401
        assert "Incorrect email or password." in response.text
        assert http.get("/wallet").status_code == 303


def test_next_only_leads_to_this_site(web_app: LiveServer, student: Account) -> None:
    with page_client(web_app) as http:
        token = csrf_from(http.get("/login").text)
        form = {"email": student.email, "password": student.password, "csrf_token": token}
        evil = http.post("/login", data={**form, "next": "//evil.example/x"})
        assert evil.headers["location"] == "/wallet"
    with page_client(web_app) as http:
        token = csrf_from(http.get("/login").text)
        form = {"email": student.email, "password": student.password, "csrf_token": token}
        assert (
            http.post("/login", data={**form, "next": "/credits/cancel"}).headers["location"]
            == "/credits/cancel"
        )


def test_role_gates(
    web_app: LiveServer, student: Account, instructor: Account, admin: Account
) -> None:
    with page_client(web_app) as http:
        sign_in(http, student.email, student.password)
        for path in ("/admin", "/admin/students", "/admin/exports/ledger.csv"):
            refused = http.get(path)
            assert refused.status_code == 403, path
            assert "administrators only" in refused.text
    with page_client(web_app) as http:
        sign_in(http, instructor.email, instructor.password)
        assert http.get("/wallet").status_code == 403
    with page_client(web_app) as http:
        assert sign_in(http, admin.email, admin.password).headers["location"] == "/admin"
        assert http.get("/admin").status_code == 200


def test_an_access_token_is_not_a_session_cookie(web_app: LiveServer, student: Account) -> None:
    with page_client(web_app) as http:
        http.cookies.set(COOKIE_NAME, student.token)
        assert http.get("/wallet").status_code == 303
    # ...and the JSON API keeps taking the bearer token, never the cookie.
    with page_client(web_app) as http:
        sign_in(http, student.email, student.password)
        assert http.get("/api/me").status_code == 401
        assert http.get("/api/me", headers=student.headers).status_code == 200


def test_a_tampered_cookie_is_anonymous(web_app: LiveServer, settings: Settings) -> None:
    codec = SessionCodec(settings)
    other = SessionCodec(settings.model_copy(update={"jwt_secret": SecretStr("other-" * 8)}))
    forged = other.encode(BrowserSession.signed_in(uuid.uuid4()))
    assert codec.decode(forged) is None
    with page_client(web_app) as http:
        http.cookies.set(COOKIE_NAME, forged)
        assert http.get("/wallet").status_code == 303


def test_logout_ends_the_session_on_the_server(web_app: LiveServer, student: Account) -> None:
    with page_client(web_app) as http:
        sign_in(http, student.email, student.password)
        kept = http.cookies[COOKIE_NAME]  # a copy someone kept (another tab, a stolen cookie)
        assert post_form(http, "/wallet", "/logout", {}).headers["location"] == "/login"
        assert http.get("/wallet").status_code == 303
    with page_client(web_app) as http:
        http.cookies.set(COOKIE_NAME, kept)
        assert http.get("/wallet").status_code == 303  # revoked, not merely replaced


def test_a_password_reset_ends_browser_sessions(
    web_app: LiveServer, student: Account, services: ServiceRunner
) -> None:
    from medgrader.auth import revocation

    with page_client(web_app) as http:
        sign_in(http, student.email, student.password)
        assert http.get("/wallet").status_code == 200
        services.in_transaction(
            lambda session, ctx: revocation.end_all_tokens(session, uuid.UUID(student.id))
        )
        assert http.get("/wallet").status_code == 303


def test_sign_up_with_the_emailed_code(
    web_app: LiveServer, mailbox: object, db: psycopg.Connection
) -> None:
    from tests.support.accounts import unique_email

    email = unique_email("pages")
    with page_client(web_app) as http:
        sent = post_form(http, "/signup", "/signup", {
            "email": email, "password": "long enough pw", "firstName": "Grace",
            "lastName": "Hopper",
        })  # fmt: skip
        assert sent.status_code == 200
        assert "Check your email" in sent.text
        code = mailbox.latest_otp(email)  # type: ignore[attr-defined]
        wrong = "000000" if code != "000000" else "111111"
        bad = post_form(http, "/signup", "/signup/verify", {"email": email, "code": wrong})
        assert bad.status_code == 400
        assert "Invalid or expired code." in bad.text
        good = post_form(http, "/signup", "/signup/verify", {"email": email, "code": code})
        assert good.status_code == 303
        assert good.headers["location"] == "/wallet"
        wallet = http.get("/wallet")
        assert "100 credits" in wallet.text
    row = db.execute(
        "SELECT p.credit_balance FROM users u JOIN student_profiles p ON p.user_id = u.id"
        " WHERE u.email = %s",
        (email,),
    ).fetchone()
    assert row == (100,)


def test_api_errors_stay_json_and_page_errors_are_pages(
    web_app: LiveServer, admin: Account
) -> None:
    with page_client(web_app) as http:
        # An API route whose module name starts like the pages' package (medgrader.webhooks).
        api = http.post("/api/admin/webhook-events/evt_nope/replay", headers=admin.headers)
        assert api.status_code == 404
        assert api.json()["code"] == "webhook_event_not_found"
        assert http.get("/api/nope").json()["code"] == "not_found"
        page = http.get("/nope")
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")


def test_browser_tests_fail_rather_than_skip_in_ci() -> None:
    with pytest.raises(pytest.fail.Exception, match="cannot run in CI"):
        require_browser("/nonexistent/chromium", ci="true")
    with pytest.raises(pytest.skip.Exception):
        require_browser("/nonexistent/chromium", ci="")
