"""Sign-up over HTTP with the code read from the email the SMTP server received."""

from __future__ import annotations

import httpx
import psycopg

from tests.support.accounts import PASSWORD, Account, register, sign_up, unique_email
from tests.support.invariants import assert_ledger_invariants, ledger_balance
from tests.support.limits import end_resend_interval
from tests.support.mailbox import Mailbox, html_body, text_body


def test_full_signup_gives_student_the_welcome_bonus_as_one_ledger_entry(
    client: httpx.Client, mailbox: Mailbox, db: psycopg.Connection
) -> None:
    email = unique_email("newcomer")
    response = register(client, email, first_name="Grace", last_name="Hopper")
    assert response.status_code == 202
    assert response.json()["expiresIn"] == 600

    [message] = mailbox.wait_for(lambda m: email in str(m["To"]))
    code = text_body(message).split("code is: ")[1][:6]
    assert code.isdigit()
    assert code in html_body(message)
    # The code is never stored in the clear.
    stored = db.execute(
        "SELECT otp_hash FROM pending_registrations WHERE email = %s", (email,)
    ).fetchone()
    assert stored is not None
    assert code not in stored[0]

    verified = client.post("/api/auth/verify-otp", json={"email": email.upper(), "otp": code})
    assert verified.status_code == 201
    body = verified.json()
    assert body["tokenType"] == "bearer"
    assert body["expiresIn"] == 3600
    assert body["user"]["creditBalance"] == 100

    me = client.get("/api/me", headers={"Authorization": f"Bearer {body['accessToken']}"})
    assert me.status_code == 200
    profile = me.json()
    assert profile["email"] == email
    assert profile["role"] == "student"
    assert profile["isAdmin"] is False
    assert (profile["firstName"], profile["lastName"]) == ("Grace", "Hopper")
    assert profile["creditBalance"] == 100

    entries = db.execute(
        "SELECT entry_type, amount, balance_after, source_type FROM credit_transactions"
        " WHERE student_id = %s",
        (profile["id"],),
    ).fetchall()
    assert entries == [("CREDIT", 100, 100, "WELCOME_BONUS")]
    assert ledger_balance(db, profile["id"]) == (100, 100)
    assert_ledger_invariants(db)
    # Single use: the pending registration is gone.
    gone = db.execute("SELECT count(*) FROM pending_registrations WHERE email = %s", (email,))
    assert gone.fetchone() == (0,)


def test_login_after_signup_returns_the_same_shape(client: httpx.Client, mailbox: Mailbox) -> None:
    account = sign_up(client, mailbox)
    response = client.post(
        "/api/auth/login", json={"email": account.email.upper(), "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["tokenType"] == "bearer"
    assert body["user"]["id"] == account.id
    assert body["user"]["creditBalance"] == 100
    me = client.get("/api/me", headers={"Authorization": f"Bearer {body['accessToken']}"})
    assert me.json()["id"] == account.id


def test_wrong_code_five_times_kills_it_even_for_the_right_code(
    client: httpx.Client, mailbox: Mailbox, db: psycopg.Connection
) -> None:
    email = unique_email("guesser")
    assert register(client, email).status_code == 202
    code = mailbox.latest_otp(email)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for attempt in range(5):
        response = client.post("/api/auth/verify-otp", json={"email": email, "otp": wrong})
        assert response.status_code == 400, attempt
        assert response.json()["code"] == "invalid_otp"
    attempts = db.execute(
        "SELECT failed_attempts, otp_hash FROM pending_registrations WHERE email = %s", (email,)
    ).fetchone()
    assert attempts == (5, None)

    right = client.post("/api/auth/verify-otp", json={"email": email, "otp": code})
    assert right.status_code == 429
    assert right.json()["code"] == "rate_limited"
    assert int(right.headers["Retry-After"]) > 0
    assert db.execute("SELECT count(*) FROM users WHERE email = %s", (email,)).fetchone() == (0,)


def test_expired_code_is_refused(
    client: httpx.Client, mailbox: Mailbox, db: psycopg.Connection
) -> None:
    email = unique_email("late")
    assert register(client, email).status_code == 202
    code = mailbox.latest_otp(email)
    db.execute(
        "UPDATE pending_registrations SET otp_expires_at = now() - interval '1 second'"
        " WHERE email = %s",
        (email,),
    )
    response = client.post("/api/auth/verify-otp", json={"email": email, "otp": code})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_otp"  # as for an unknown address
    assert db.execute("SELECT count(*) FROM users WHERE email = %s", (email,)).fetchone() == (0,)


def test_used_code_is_refused_and_credits_only_once(
    client: httpx.Client, mailbox: Mailbox, db: psycopg.Connection
) -> None:
    email = unique_email("twice")
    assert register(client, email).status_code == 202
    code = mailbox.latest_otp(email)
    first = client.post("/api/auth/verify-otp", json={"email": email, "otp": code})
    assert first.status_code == 201
    again = client.post("/api/auth/verify-otp", json={"email": email, "otp": code})
    assert again.status_code == 400
    assert again.json()["code"] == "invalid_otp"
    user_id = first.json()["user"]["id"]
    assert ledger_balance(db, user_id) == (100, 100)
    count = db.execute(
        "SELECT count(*) FROM credit_transactions WHERE student_id = %s", (user_id,)
    ).fetchone()
    assert count == (1,)


def test_registering_a_taken_email_answers_as_for_a_new_one_and_tells_the_owner(
    client: httpx.Client, mailbox: Mailbox, db: psycopg.Connection
) -> None:
    account = sign_up(client, mailbox)
    end_resend_interval(db, account.email)  # as if the account had been made a while ago
    new = register(client, unique_email("fresh"))
    taken = register(client, account.email.upper())
    assert (
        (taken.status_code, taken.json())
        == (new.status_code, new.json())
        == (
            202,
            {"message": "We emailed you a 6-digit code.", "expiresIn": 600},
        )
    )
    [notice] = mailbox.wait_for(
        lambda m: account.email in str(m["To"]) and "tried to sign up" in str(m["Subject"])
    )
    assert "which already has an" in text_body(notice)
    assert "Ada" in text_body(notice)
    pending = db.execute(
        "SELECT count(*) FROM pending_registrations WHERE email = %s", (account.email,)
    ).fetchone()
    assert pending == (0,)  # nothing to verify: no second account can come of it


def test_re_registering_replaces_the_code_but_is_rate_limited(
    client: httpx.Client, mailbox: Mailbox, db: psycopg.Connection
) -> None:
    email = unique_email("again")
    assert register(client, email).status_code == 202
    first_code = mailbox.latest_otp(email)
    too_soon = register(client, email)
    assert too_soon.status_code == 429
    assert too_soon.json()["code"] == "rate_limited"
    assert int(too_soon.headers["Retry-After"]) > 0
    assert len(mailbox.messages(to=email)) == 1

    # Once the resend interval has passed, a new code replaces the old one.
    end_resend_interval(db, email)
    assert register(client, email).status_code == 202
    second_code = mailbox.latest_otp(email, after=1)
    if second_code != first_code:
        stale = client.post("/api/auth/verify-otp", json={"email": email, "otp": first_code})
        assert stale.status_code == 400
    ok = client.post("/api/auth/verify-otp", json={"email": email, "otp": second_code})
    assert ok.status_code == 201


def test_registration_sends_per_hour_are_capped(
    client: httpx.Client, mailbox: Mailbox, db: psycopg.Connection
) -> None:
    email = unique_email("spammer")
    assert register(client, email).status_code == 202
    for _ in range(4):
        end_resend_interval(db, email)
        assert register(client, email).status_code == 202
    end_resend_interval(db, email)
    capped = register(client, email)
    assert capped.status_code == 429
    assert len(mailbox.messages(to=email)) == 5


def test_instructor_signup_has_no_balance_and_no_ledger(
    client: httpx.Client, mailbox: Mailbox, db: psycopg.Connection
) -> None:
    account = sign_up(client, mailbox, role="instructor")
    me = client.get("/api/me", headers=account.headers).json()
    assert me["role"] == "instructor"
    assert me["creditBalance"] is None
    assert db.execute(
        "SELECT count(*) FROM student_profiles WHERE user_id = %s", (account.id,)
    ).fetchone() == (0,)
    assert db.execute(
        "SELECT count(*) FROM credit_transactions WHERE student_id = %s", (account.id,)
    ).fetchone() == (0,)


def test_login_with_wrong_password_says_nothing_about_the_email(
    client: httpx.Client, mailbox: Mailbox
) -> None:
    account = sign_up(client, mailbox)
    wrong_password = client.post(
        "/api/auth/login", json={"email": account.email, "password": "not the password"}
    )
    unknown_email = client.post(
        "/api/auth/login", json={"email": unique_email("nobody"), "password": "not the password"}
    )
    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.json() == unknown_email.json()
    assert wrong_password.json()["code"] == "invalid_credentials"


def test_invalid_registration_fields_are_422_naming_the_field(client: httpx.Client) -> None:
    cases = {
        "email": {"email": "not-an-email"},
        "password": {"password": "short"},
        "role": {"role": "admin"},
        "firstName": {"firstName": ""},
    }
    for field, override in cases.items():
        body = {
            "email": unique_email("bad"),
            "password": PASSWORD,
            "firstName": "A",
            "lastName": "B",
            "role": "student",
        } | override
        response = client.post("/api/auth/register", json=body)
        assert response.status_code == 422, field
        assert response.json()["code"] == "validation_error"
        assert field in response.json()["error"], response.json()


def test_admin_is_an_instructor_account_with_is_admin(client: httpx.Client, admin: Account) -> None:
    me = client.get("/api/me", headers=admin.headers).json()
    assert me["isAdmin"] is True
    assert me["role"] == "instructor"
    assert me["creditBalance"] is None
