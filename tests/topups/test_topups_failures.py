"""Declines: the attempt ends FAILED with Stripe's code, nothing is credited, the student is
emailed the reason or, when the bank wants them, a link to pay on-session (once per attempt)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest

from tests.checkout.support import balance
from tests.support.accounts import Account
from tests.support.mailbox import Mailbox
from tests.support.tiers import BOTH_TIERS
from tests.topups.support import (
    ALWAYS_DECLINED,
    INSUFFICIENT_FUNDS,
    NEEDS_AUTH,
    attempts,
    failed_attempt,
    save_card,
    spend,
    top_up_entries,
    top_up_payments,
    turn_on,
)


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


@BOTH_TIERS
@pytest.mark.parametrize(
    ("card", "code", "decline", "reason"),
    [
        (ALWAYS_DECLINED, "card_declined", "generic_decline", "declined by your bank"),
        (INSUFFICIENT_FUNDS, "card_declined", "insufficient_funds", "insufficient funds"),
    ],
)
def test_a_decline_fails_the_attempt_and_emails_the_reason(
    tier: str,
    card: str, code: str, decline: str, reason: str,
    client: httpx.Client, student: Account, stripe_emulator: Any,
    packages: dict[str, dict[str, Any]], db: psycopg.Connection, mailbox: Mailbox,
    run_jobs: Callable[[], None], invariants: None,
) -> None:  # fmt: skip
    metric = f'medgrader_top_up_attempts_total{{outcome="failed",reason="{decline}"}}'
    before = _sample(client.get("/metrics").text, metric)
    save_card(client, student, stripe_emulator, card)
    turn_on(client, student, packages["starter"], threshold=50)
    assert spend(client, student, 50).status_code == 201
    run_jobs()
    stripe_emulator.wait_for_deliveries()
    [attempt] = attempts(db, student.id)
    assert (attempt["status"], attempt["failure_code"], attempt["decline_code"]) == (
        "FAILED", code, decline
    )  # fmt: skip
    # Metrics: attempts by outcome and reason (the webhook found it settled: counted once).
    assert _sample(client.get("/metrics").text, metric) == before + 1
    assert balance(db, student.id) == 50
    assert (top_up_entries(db, student.id), top_up_payments(db, student.id)) == ([], [])
    [email] = [m for m in mailbox.messages(student.email) if "top-up" in m["Subject"]]
    assert email["Subject"] == "Your automatic top-up failed"
    body = email.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert reason in body
    assert "/pay" not in body
    # The payment_failed webhook found it settled: still one failure, one email.
    run_jobs()
    assert len([m for m in mailbox.messages(student.email) if "top-up" in m["Subject"]]) == 1
    view = client.get("/api/credits/auto-top-up", headers=student.headers).json()
    assert view["attempts"][0]["declineCode"] == decline
    assert view["state"] == "ACTIVE"  # one failure does not suspend


@BOTH_TIERS
def test_authentication_required_emails_a_link_to_pay_on_session_once(
    tier: str,
    client: httpx.Client, student: Account, stripe_emulator: Any,
    packages: dict[str, dict[str, Any]], db: psycopg.Connection, mailbox: Mailbox,
    run_jobs: Callable[[], None], invariants: None,
) -> None:  # fmt: skip
    save_card(client, student, stripe_emulator, NEEDS_AUTH)
    turn_on(client, student, packages["starter"], threshold=50)
    assert spend(client, student, 50).status_code == 201
    run_jobs()
    stripe_emulator.wait_for_deliveries()
    [attempt] = attempts(db, student.id)
    assert (attempt["status"], attempt["failure_code"]) == ("FAILED", "authentication_required")
    assert balance(db, student.id) == 50
    [email] = [m for m in mailbox.messages(student.email) if "top-up" in m["Subject"]]
    assert email["Subject"] == "Action needed: confirm your automatic top-up"
    body = email.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"/wallet/top-ups/{attempt['id']}/pay" in body

    # The link opens one on-session Checkout for the same package, however often it is used.
    path = f"/api/credits/auto-top-up/attempts/{attempt['id']}/checkout"
    first = client.post(path, headers=student.headers)
    again = client.post(path, headers=student.headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["sessionId"] == again.json()["sessionId"]
    assert (first.json()["amount"], first.json()["credits"]) == (1000, 100)
    stripe_emulator.pay(first.json()["sessionId"], NEEDS_AUTH)
    stripe_emulator.wait_for_deliveries()
    assert balance(db, student.id) == 150  # bought on-session, as a purchase
    # Paid: the link is spent; the attempt stays FAILED and is never charged.
    spent = client.post(path, headers=student.headers)
    assert (spent.status_code, spent.json()["code"]) == (409, "top_up_not_recoverable")
    assert [a["status"] for a in attempts(db, student.id)] == ["FAILED"]
    assert top_up_entries(db, student.id) == []


def test_the_link_is_the_students_own(
    client: httpx.Client, student: Account, stripe_emulator: Any, mailbox: Mailbox,
    packages: dict[str, dict[str, Any]], db: psycopg.Connection,
    run_jobs: Callable[[], None],
) -> None:  # fmt: skip
    from tests.support.accounts import sign_up

    attempt = failed_attempt(client, student, stripe_emulator, packages["starter"], db, run_jobs)
    other = sign_up(client, mailbox)
    answer = client.post(
        f"/api/credits/auto-top-up/attempts/{attempt['id']}/checkout", headers=other.headers
    )
    assert (answer.status_code, answer.json()["code"]) == (404, "top_up_attempt_not_found")
