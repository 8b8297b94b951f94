"""Sign in with Google, offline: ID tokens signed by a key made here, certificates served on
loopback as Google serves them, the app verifying with google-auth over real HTTP."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from tests.support.accounts import PASSWORD, sign_up, unique_email
from tests.support.google import GoogleIssuer, new_key
from tests.support.invariants import ledger_balance
from tests.support.mailbox import Mailbox
from tests.support.tiers import NewClient

GOOGLE = "/api/auth/google"


def _new_sub() -> str:
    return str(uuid.uuid4().int)[:21]  # Google's subs are up to 21 digits


def _users_with(db: psycopg.Connection, email: str, sub: str) -> int:
    row = db.execute(
        "SELECT count(*) FROM users WHERE lower(email) = lower(%s) OR google_sub = %s",
        (email, sub),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _bonus_entries(db: psycopg.Connection, user_id: str) -> list[tuple[str, int]]:
    return db.execute(
        "SELECT source_type, amount FROM credit_transactions WHERE student_id = %s",
        (user_id,),
    ).fetchall()


def test_first_sign_in_creates_a_verified_student_with_one_welcome_bonus(
    client: httpx.Client,
    google_issuer: GoogleIssuer,
    mailbox: Mailbox,
    db: psycopg.Connection,
    invariants: None,
) -> None:
    email = unique_email("google")
    sub = _new_sub()
    token = google_issuer.token(email=email.upper(), sub=sub)

    first = client.post(GOOGLE, json={"idToken": token})
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["tokenType"] == "bearer"
    assert body["user"]["email"] == email
    assert body["user"]["role"] == "student"
    assert (body["user"]["firstName"], body["user"]["lastName"]) == ("Grace", "Hopper")
    assert body["user"]["creditBalance"] == 100
    me = client.get("/api/me", headers={"Authorization": f"Bearer {body['accessToken']}"})
    assert me.json()["id"] == body["user"]["id"]

    stored = db.execute(
        "SELECT google_sub, email_verified_at IS NOT NULL, password_hash FROM users WHERE id = %s",
        (body["user"]["id"],),
    ).fetchone()
    assert stored == (sub, True, None)
    assert mailbox.messages(to=email) == []  # verified by Google: no emailed code

    again = client.post(GOOGLE, json={"idToken": google_issuer.token(email=email, sub=sub)})
    assert again.status_code == 200, again.text
    assert again.json()["user"]["id"] == body["user"]["id"]
    assert _bonus_entries(db, body["user"]["id"]) == [("WELCOME_BONUS", 100)]
    assert ledger_balance(db, body["user"]["id"]) == (100, 100)

    # No password signs a Google-only account in.
    login = client.post("/api/auth/login", json={"email": email, "password": "anything-at-all"})
    assert login.status_code == 401
    assert login.json()["code"] == "invalid_credentials"


def test_role_instructor_creates_an_instructor_without_credits(
    client: httpx.Client, google_issuer: GoogleIssuer, db: psycopg.Connection
) -> None:
    email = unique_email("google-teacher")
    response = client.post(
        GOOGLE, json={"idToken": google_issuer.token(email=email), "role": "instructor"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["user"]["role"] == "instructor"
    assert response.json()["user"]["creditBalance"] is None
    assert _bonus_entries(db, response.json()["user"]["id"]) == []


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["email"] = "attacker@example.com"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def _bad_tokens(issuer: GoogleIssuer, email: str, sub: str) -> dict[str, str]:
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    other_key = new_key()
    return {
        "wrong audience": issuer.token(email=email, sub=sub, aud="someone-else"),
        "wrong issuer": issuer.token(email=email, sub=sub, iss="https://evil.example.com"),
        "expired": issuer.token(
            email=email,
            sub=sub,
            iat=int((hour_ago - timedelta(hours=1)).timestamp()),
            exp=int(hour_ago.timestamp()),
        ),
        "email not verified": issuer.token(email=email, sub=sub, email_verified=False),
        "tampered payload": _tampered(issuer.token(email=email, sub=sub)),
        "signed by another key": issuer.sign(issuer.claims(email=email, sub=sub), key=other_key),
        "unknown kid": issuer.sign(
            issuer.claims(email=email, sub=sub), key=other_key, kid="not-a-google-key"
        ),
        "no exp": issuer.token(email=email, sub=sub, exp=None),
        "not a jwt": "not.a.jwt",
    }


@pytest.mark.parametrize(
    "case",
    [
        "wrong audience",
        "wrong issuer",
        "expired",
        "email not verified",
        "tampered payload",
        "signed by another key",
        "unknown kid",
        "no exp",
        "not a jwt",
    ],
)
def test_a_bad_token_is_401_and_writes_nothing(
    client: httpx.Client, google_issuer: GoogleIssuer, db: psycopg.Connection, case: str
) -> None:
    email = unique_email("google-bad")
    sub = _new_sub()
    token = _bad_tokens(google_issuer, email, sub)[case]
    response = client.post(GOOGLE, json={"idToken": token})
    assert response.status_code == 401, response.text
    assert response.json() == {
        "error": "The Google sign-in could not be verified.",
        "code": "invalid_google_token",
    }
    assert _users_with(db, email, sub) == 0
    assert _users_with(db, "attacker@example.com", sub) == 0


def test_first_sign_in_links_an_existing_email_account(
    client: httpx.Client, google_issuer: GoogleIssuer, mailbox: Mailbox, db: psycopg.Connection
) -> None:
    account = sign_up(client, mailbox)
    sub = _new_sub()
    response = client.post(
        GOOGLE, json={"idToken": google_issuer.token(email=account.email.upper(), sub=sub)}
    )
    assert response.status_code == 200, response.text
    assert response.json()["user"]["id"] == account.id
    assert db.execute("SELECT google_sub FROM users WHERE id = %s", (account.id,)).fetchone() == (
        sub,
    )
    assert ledger_balance(db, account.id) == (100, 100)  # no second bonus
    # The password still works beside Google.
    login = client.post("/api/auth/login", json={"email": account.email, "password": PASSWORD})
    assert login.status_code == 200


def test_a_linked_google_account_signs_in_after_its_email_changed(
    client: httpx.Client, google_issuer: GoogleIssuer, db: psycopg.Connection
) -> None:
    sub = _new_sub()
    first = client.post(
        GOOGLE, json={"idToken": google_issuer.token(email=unique_email(), sub=sub)}
    )
    assert first.status_code == 201
    renamed = unique_email("renamed")
    again = client.post(GOOGLE, json={"idToken": google_issuer.token(email=renamed, sub=sub)})
    assert again.status_code == 200
    assert again.json()["user"]["id"] == first.json()["user"]["id"]
    assert _users_with(db, renamed, "no-such-sub") == 0  # no second user for the new email


def test_an_email_linked_to_another_google_account_is_409(
    client: httpx.Client, google_issuer: GoogleIssuer
) -> None:
    email = unique_email("google-owned")
    first = client.post(GOOGLE, json={"idToken": google_issuer.token(email=email, sub="41")})
    assert first.status_code == 201
    other = client.post(GOOGLE, json={"idToken": google_issuer.token(email=email, sub="42")})
    assert other.status_code == 409
    assert other.json()["code"] == "google_account_conflict"


def test_two_racing_first_sign_ins_make_one_user_and_one_bonus(
    new_client: NewClient, google_issuer: GoogleIssuer, db: psycopg.Connection, invariants: None
) -> None:
    email = unique_email("google-race")
    sub = _new_sub()
    tokens = [google_issuer.token(email=email, sub=sub) for _ in range(4)]
    barrier = threading.Barrier(len(tokens))
    answers: list[httpx.Response] = []

    def sign_in(token: str) -> None:
        with new_client() as http:
            barrier.wait()
            answers.append(http.post(GOOGLE, json={"idToken": token}))

    threads = [threading.Thread(target=sign_in, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201]
    [user_id] = {a.json()["user"]["id"] for a in answers}
    assert _users_with(db, email, sub) == 1
    assert _bonus_entries(db, user_id) == [("WELCOME_BONUS", 100)]


def test_the_certificates_are_fetched_once_for_many_sign_ins(
    client: httpx.Client, google_issuer: GoogleIssuer
) -> None:
    before = google_issuer.hits
    first = client.post(GOOGLE, json={"idToken": google_issuer.token(email=unique_email())})
    assert first.status_code == 201
    after_first = google_issuer.hits
    assert after_first - before <= 1  # a cold cache fetches once; a warm one not at all
    for _ in range(10):
        response = client.post(GOOGLE, json={"idToken": google_issuer.token(email=unique_email())})
        assert response.status_code == 201
    assert google_issuer.hits == after_first
    assert after_first >= 1


@pytest.fixture
def workspace_app(build_app: Callable[..., Any], serve: Callable[[Any], Any]) -> Any:
    """The app restricted to one Google Workspace domain."""
    return serve(build_app(google_hosted_domain="medgrader.example"))


def test_the_hosted_domain_is_enforced(
    workspace_app: Any, google_issuer: GoogleIssuer, db: psycopg.Connection
) -> None:
    outsider, insider = unique_email("gmail"), unique_email("staff")
    with workspace_app.client() as http:
        wrong = http.post(GOOGLE, json={"idToken": google_issuer.token(email=outsider, sub="61")})
        missing = http.post(
            GOOGLE, json={"idToken": google_issuer.token(email=outsider, sub="62", hd="other.org")}
        )
        right = http.post(
            GOOGLE,
            json={"idToken": google_issuer.token(email=insider, sub="63", hd="medgrader.example")},
        )
    assert (wrong.status_code, wrong.json()["code"]) == (401, "invalid_google_token")
    assert (missing.status_code, missing.json()["code"]) == (401, "invalid_google_token")
    assert right.status_code == 201, right.text
    assert _users_with(db, outsider, "61") == 0


def test_without_client_ids_google_sign_in_is_404(
    build_app: Callable[..., Any], serve: Callable[[Any], Any], google_issuer: GoogleIssuer
) -> None:
    with serve(build_app(google_client_ids="")).client() as http:
        response = http.post(GOOGLE, json={"idToken": google_issuer.token(email=unique_email())})
    assert response.status_code == 404
    assert response.json()["code"] == "google_sign_in_disabled"
