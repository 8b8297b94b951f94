"""Account hardening: logout revokes its token, a password reset (single-use, 10-minute code)
ends every token, and the answers never tell which addresses have accounts."""

from __future__ import annotations

import re

import httpx
import psycopg

from tests.support.accounts import PASSWORD, Account, register, sign_up, unique_email
from tests.support.limits import end_resend_interval
from tests.support.mailbox import Mailbox, text_body

NEW_PASSWORD = "a brand new passphrase"
SPEND = "/api/credits/spend"


def _spend(client: httpx.Client, account: Account, key: str) -> httpx.Response:
    return client.post(
        SPEND,
        json={"amount": 1, "reason": "test"},
        headers=account.headers | {"Idempotency-Key": key},
    )


def _login(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post("/api/auth/login", json={"email": email, "password": password})


def test_logout_revokes_the_token_it_carries_and_only_that_one(
    client: httpx.Client, mailbox: Mailbox, db: psycopg.Connection, invariants: None
) -> None:
    account = sign_up(client, mailbox)
    second = _login(client, account.email, PASSWORD).json()["accessToken"]
    other_session = Account(account.id, account.email, PASSWORD, second, "student")

    out = client.post("/api/auth/logout", headers=account.headers)
    assert out.status_code == 204
    assert out.content == b""
    for response in (
        client.get("/api/me", headers=account.headers),  # the ORM path
        client.get("/api/credits/balance", headers=account.headers),
        _spend(client, account, "after-logout-1"),  # the lean hot path
        client.get("/api/payments/checkout-sessions", headers=account.headers),
        client.post("/api/auth/logout", headers=account.headers),  # already dead
    ):
        assert response.status_code == 401, response.request.url
        assert response.json()["code"] == "invalid_token"
    assert db.execute(
        "SELECT count(*) FROM credit_transactions WHERE student_id = %s AND source_type = 'USAGE'",
        (account.id,),
    ).fetchone() == (0,)
    # The user's other token is untouched.
    assert client.get("/api/me", headers=other_session.headers).status_code == 200
    assert _spend(client, other_session, "other-session-1").status_code == 201


def test_logout_needs_a_token(client: httpx.Client) -> None:
    response = client.post("/api/auth/logout")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


def _reset_code(mailbox: Mailbox, email: str, after: int = 0) -> str:
    messages = mailbox.wait_for(
        lambda m: email in str(m["To"]) and "password reset" in str(m["Subject"]).lower(),
        count=after + 1,
    )
    match = re.search(r"\b(\d{6})\b", text_body(messages[-1]))
    assert match is not None
    return match.group(1)


def test_password_reset_changes_the_password_and_ends_every_token(
    client: httpx.Client, mailbox: Mailbox, db: psycopg.Connection, invariants: None
) -> None:
    account = sign_up(client, mailbox)
    second = Account(
        account.id,
        account.email,
        PASSWORD,
        _login(client, account.email, PASSWORD).json()["accessToken"],
        "student",
    )
    asked = client.post("/api/auth/password-reset", json={"email": account.email.upper()})
    assert asked.status_code == 202
    code = _reset_code(mailbox, account.email)
    stored = db.execute(
        "SELECT code_hash FROM password_reset_codes WHERE user_id = %s", (account.id,)
    ).fetchone()
    assert stored is not None
    assert code not in stored[0]  # only a keyed hash is kept

    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    refused = client.post(
        "/api/auth/password-reset/confirm",
        json={"email": account.email, "otp": wrong, "newPassword": NEW_PASSWORD},
    )
    assert (refused.status_code, refused.json()["code"]) == (400, "invalid_otp")
    assert client.get("/api/me", headers=account.headers).status_code == 200  # nothing changed

    done = client.post(
        "/api/auth/password-reset/confirm",
        json={"email": account.email, "otp": code, "newPassword": NEW_PASSWORD},
    )
    assert done.status_code == 200, done.text
    for token_holder in (account, second):
        assert client.get("/api/me", headers=token_holder.headers).status_code == 401
        assert (
            _spend(client, token_holder, f"after-reset-{token_holder.token[-8:]}").status_code
            == 401
        )
    assert _login(client, account.email, PASSWORD).status_code == 401
    fresh = _login(client, account.email, NEW_PASSWORD)
    assert fresh.status_code == 200
    assert (
        client.get(
            "/api/me", headers={"Authorization": f"Bearer {fresh.json()['accessToken']}"}
        ).status_code
        == 200
    )

    # Single use: the same code again changes nothing.
    reused = client.post(
        "/api/auth/password-reset/confirm",
        json={"email": account.email, "otp": code, "newPassword": "yet another password"},
    )
    assert (reused.status_code, reused.json()["code"]) == (400, "invalid_otp")
    assert _login(client, account.email, NEW_PASSWORD).status_code == 200


def test_an_expired_reset_code_is_refused(
    client: httpx.Client, mailbox: Mailbox, db: psycopg.Connection
) -> None:
    account = sign_up(client, mailbox)
    assert client.post("/api/auth/password-reset", json={"email": account.email}).status_code == 202
    code = _reset_code(mailbox, account.email)
    expires = db.execute(
        "SELECT expires_at - now() FROM password_reset_codes WHERE user_id = %s", (account.id,)
    ).fetchone()
    assert expires is not None
    assert 590 <= expires[0].total_seconds() <= 600  # 10 minutes
    db.execute(
        "UPDATE password_reset_codes SET expires_at = now() - interval '1 second'"
        " WHERE user_id = %s",
        (account.id,),
    )
    late = client.post(
        "/api/auth/password-reset/confirm",
        json={"email": account.email, "otp": code, "newPassword": NEW_PASSWORD},
    )
    assert (late.status_code, late.json()["code"]) == (400, "invalid_otp")
    assert _login(client, account.email, PASSWORD).status_code == 200


def test_password_reset_answers_alike_for_unknown_and_known_addresses(
    client: httpx.Client, mailbox: Mailbox
) -> None:
    account = sign_up(client, mailbox)
    nobody = unique_email("nobody")
    known = client.post("/api/auth/password-reset", json={"email": account.email})
    unknown = client.post("/api/auth/password-reset", json={"email": nobody})
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    assert known.status_code == 202
    _reset_code(mailbox, account.email)
    assert mailbox.messages(to=nobody) == []
    body = {"otp": "123456", "newPassword": NEW_PASSWORD}
    confirm_unknown = client.post("/api/auth/password-reset/confirm", json={"email": nobody} | body)
    confirm_known = client.post(
        "/api/auth/password-reset/confirm", json={"email": account.email} | body
    )
    assert (
        confirm_unknown.json()
        == confirm_known.json()
        == {
            "error": "Invalid or expired code.",
            "code": "invalid_otp",
        }
    )


def test_verify_otp_answers_alike_for_unknown_and_pending_addresses(
    client: httpx.Client, mailbox: Mailbox, db: psycopg.Connection
) -> None:
    pending = unique_email("pending")
    assert register(client, pending).status_code == 202
    code = mailbox.latest_otp(pending)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for_pending = client.post("/api/auth/verify-otp", json={"email": pending, "otp": wrong})
    for_unknown = client.post(
        "/api/auth/verify-otp", json={"email": unique_email("unknown"), "otp": wrong}
    )
    assert (for_pending.status_code, for_pending.json()) == (
        for_unknown.status_code,
        for_unknown.json(),
    )
    assert for_pending.status_code == 400
    # An expired code answers the same too (it used to say "expired": a sign-up existed).
    db.execute(
        "UPDATE pending_registrations SET otp_expires_at = now() - interval '1 second'"
        " WHERE email = %s",
        (pending,),
    )
    expired = client.post("/api/auth/verify-otp", json={"email": pending, "otp": code})
    assert (expired.status_code, expired.json()) == (400, for_unknown.json())
    end_resend_interval(db, pending)
