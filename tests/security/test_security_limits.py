"""Abuse limits, each one a failure measured before it existed: counted in PostgreSQL, 429
`rate_limited` with Retry-After, per account, per client address, per email and per student."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from tests.checkout.support import create_packages
from tests.security.conftest import client_from, strict_sign_up
from tests.support.accounts import PASSWORD, Account, register, unique_email
from tests.support.limits import end_resend_interval, new_address
from tests.support.live_server import LiveServer
from tests.support.mailbox import Mailbox


def _assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["code"] == "rate_limited"
    assert set(response.json()) == {"error", "code"}
    assert 0 < int(response.headers["Retry-After"]) <= 3600


def _login(http: httpx.Client, email: str, password: str) -> httpx.Response:
    return http.post("/api/auth/login", json={"email": email, "password": password})


def test_wrong_passwords_lock_the_account_even_for_the_right_one(
    strict_app: LiveServer, mailbox: Mailbox
) -> None:
    account = strict_sign_up(strict_app, mailbox)
    # Spread over addresses: the per-account limit (5 / 15 min) holds whoever guesses.
    answers = []
    for _ in range(5):
        with client_from(strict_app, new_address()) as http:
            answers.append(_login(http, account.email, "wrong password").status_code)
    assert answers == [401] * 5
    with client_from(strict_app, new_address()) as http:
        right = _login(http, account.email.upper(), PASSWORD)
    _assert_limited(right)
    # Another account is not affected.
    other = strict_sign_up(strict_app, mailbox)
    with client_from(strict_app, new_address()) as http:
        assert _login(http, other.email, PASSWORD).status_code == 200


def test_logins_per_client_address_are_limited(
    strict_app: LiveServer, strict_client: httpx.Client
) -> None:
    answers = [_login(strict_client, unique_email("spray"), "guess").status_code for _ in range(8)]
    assert answers == [401] * 8
    _assert_limited(_login(strict_client, unique_email("spray"), "guess"))
    with client_from(strict_app, new_address()) as elsewhere:
        assert _login(elsewhere, unique_email("spray"), "guess").status_code == 401


def test_sign_ups_per_client_address_are_limited(
    strict_client: httpx.Client, mailbox: Mailbox
) -> None:
    emails = [unique_email("bulk") for _ in range(6)]
    answers = [register(strict_client, email).status_code for email in emails]
    assert answers == [202] * 4 + [429] * 2
    sent = [e for e in emails if mailbox.messages(to=e)]
    assert sent == emails[:4]  # 6 sign-ups, 4 emails (it was one email each, unbounded)


def test_code_guesses_spread_over_many_emails_are_limited_per_address(
    strict_client: httpx.Client,
) -> None:
    answers = [
        strict_client.post(
            "/api/auth/verify-otp", json={"email": unique_email("guess"), "otp": "123456"}
        )
        for _ in range(7)
    ]
    assert [a.status_code for a in answers[:6]] == [400] * 6
    _assert_limited(answers[6])


def test_asking_for_a_new_code_does_not_reset_the_tries(
    strict_app: LiveServer, mailbox: Mailbox, db: psycopg.Connection
) -> None:
    email = unique_email("persistent")
    with client_from(strict_app, new_address()) as http:
        assert register(http, email).status_code == 202
        first = mailbox.latest_otp(email)
        wrong = f"{(int(first) + 1) % 1_000_000:06d}"
        for _ in range(4):
            refused = http.post("/api/auth/verify-otp", json={"email": email, "otp": wrong})
            assert refused.status_code == 400
        end_resend_interval(db, email)
        assert register(http, email).status_code == 202  # a fresh code...
        second = mailbox.latest_otp(email, after=1)
        wrong = f"{(int(second) + 1) % 1_000_000:06d}"
        assert (
            http.post("/api/auth/verify-otp", json={"email": email, "otp": wrong}).status_code
            == 400
        )
        # ...but not a fresh budget: the sixth try is refused, right code or not.
        _assert_limited(http.post("/api/auth/verify-otp", json={"email": email, "otp": second}))
    assert db.execute("SELECT count(*) FROM users WHERE email = %s", (email,)).fetchone() == (0,)


def test_unknown_and_pending_addresses_are_limited_alike(strict_app: LiveServer) -> None:
    """Locking after OTP_MAX_ATTEMPTS tries happens whether or not a sign-up is pending."""
    with client_from(strict_app, new_address()) as http:
        unknown = unique_email("nobody")
        answers = [
            http.post("/api/auth/verify-otp", json={"email": unknown, "otp": "000000"}).status_code
            for _ in range(6)
        ]
    assert answers == [400] * 5 + [429]


def test_checkouts_per_student_are_limited(
    strict_app: LiveServer,
    mailbox: Mailbox,
    client: httpx.Client,
    admin: Account,
    db: psycopg.Connection,
) -> None:
    packages = create_packages(client, admin)
    student = strict_sign_up(strict_app, mailbox)
    with client_from(strict_app, new_address()) as http:
        answers = [
            http.post(
                "/api/payments/credit-checkout",
                json={"packageId": packages["starter"]["id"]},
                headers=student.headers,
            )
            for _ in range(5)
        ]
    assert [a.status_code for a in answers[:3]] == [201] * 3
    _assert_limited(answers[3])
    _assert_limited(answers[4])
    opened = db.execute(
        "SELECT count(*) FROM checkout_sessions WHERE student_id = %s", (student.id,)
    ).fetchone()
    assert opened == (3,)  # 5 asked, 3 Stripe sessions (it was one per request, unbounded)


def test_password_reset_requests_share_the_code_limits(
    strict_app: LiveServer, mailbox: Mailbox
) -> None:
    account = strict_sign_up(strict_app, mailbox)
    with client_from(strict_app, new_address()) as http:
        first = http.post("/api/auth/password-reset", json={"email": account.email})
        again = http.post("/api/auth/password-reset", json={"email": account.email})
    assert first.status_code == 202
    _assert_limited(again)  # one code per resend interval, as for sign-up


@pytest.mark.parametrize("header", ["203.0.113.50", "not-an-address", ""])
def test_the_forwarded_address_decides_only_behind_the_trusted_proxy(header: str) -> None:
    from starlette.requests import Request

    from medgrader.config import Settings
    from medgrader.security.client import client_address

    trusting = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="test",
        trusted_proxy_header="X-Forwarded-For",
        trusted_proxies="10.0.0.0/8",
    )
    plain = Settings(_env_file=None, environment="test")  # type: ignore[call-arg]

    def request(peer: str) -> Request:
        headers = [(b"x-forwarded-for", f"198.51.100.7, {header}".encode())] if header else []
        return Request({"type": "http", "client": (peer, 1234), "headers": headers})

    via_proxy = client_address(request("10.1.2.3"), trusting)
    expected = {"203.0.113.50": "203.0.113.50", "not-an-address": "10.1.2.3", "": "10.1.2.3"}
    assert via_proxy == expected[header]
    # A client that is not our proxy cannot choose its address by writing the header.
    assert client_address(request("192.0.2.8"), trusting) == "192.0.2.8"
    assert client_address(request("10.1.2.3"), plain) == "10.1.2.3"
