"""The events: payment_intent.succeeded / payment_failed settle a top-up whose answer the job
never got; payment_method.detached turns top-up off; other intents are not ours."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psycopg

from medgrader.core.adapters.stripe_errors import StripeUnavailable
from tests.checkout.support import balance, stripe_client
from tests.support.accounts import Account
from tests.support.services import ServiceRunner
from tests.support.tiers import BOTH_TIERS
from tests.topups.support import (
    ALWAYS_DECLINED,
    VISA,
    attempts,
    intents_charged,
    save_card,
    spend,
    top_up_entries,
    turn_on,
)


@contextmanager
def answers_lost(services: ServiceRunner) -> Iterator[None]:
    """Stripe acts on the charge, but its answer never reaches the job (a timeout)."""
    gateway = services.ctx.stripe
    real = gateway.charge_saved_card

    async def lost(params: dict[str, Any], *, idempotency_key: str) -> Any:
        await real(params, idempotency_key=idempotency_key)
        raise StripeUnavailable()

    gateway.charge_saved_card = lost  # type: ignore[method-assign]
    try:
        yield
    finally:
        gateway.charge_saved_card = real  # type: ignore[method-assign]


def _outcomes(db: psycopg.Connection, event_type: str) -> list[str]:
    return [
        row[0]
        for row in db.execute(
            "SELECT outcome FROM webhook_events WHERE type = %s AND processed_at IS NOT NULL",
            (event_type,),
        )
    ]


def test_payment_intent_succeeded_credits_a_top_up_whose_answer_was_lost(
    client: httpx.Client, student: Account, stripe_emulator: Any, services: ServiceRunner,
    packages: dict[str, dict[str, Any]], db: psycopg.Connection,
    run_jobs: Callable[[], None], invariants: None,
) -> None:  # fmt: skip
    save_card(client, student, stripe_emulator, VISA)
    turn_on(client, student, packages["starter"], threshold=50)
    with answers_lost(services):
        spend(client, student, 50)
        run_jobs()
        stripe_emulator.wait_for_deliveries()
    assert [a["status"] for a in attempts(db, student.id)] == ["SUCCEEDED"]
    assert balance(db, student.id) == 150
    assert len(top_up_entries(db, student.id)) == 1
    assert len(intents_charged(stripe_emulator, student)) == 1
    assert _outcomes(db, "payment_intent.succeeded")[-1] == "top_up: succeeded"
    # The same event again (Stripe retries): already settled, nothing more.
    [event] = (
        stripe_client(stripe_emulator)
        .v1.events.list(params={"type": "payment_intent.succeeded", "limit": 1})
        .data
    )
    stripe_emulator.resend(event.id)
    stripe_emulator.wait_for_deliveries()
    assert balance(db, student.id) == 150


def test_payment_intent_payment_failed_fails_a_top_up_whose_answer_was_lost(
    client: httpx.Client, student: Account, stripe_emulator: Any, services: ServiceRunner,
    packages: dict[str, dict[str, Any]], db: psycopg.Connection,
    run_jobs: Callable[[], None], invariants: None,
) -> None:  # fmt: skip
    save_card(client, student, stripe_emulator, ALWAYS_DECLINED)
    turn_on(client, student, packages["starter"], threshold=50)
    with answers_lost(services):
        spend(client, student, 50)
        run_jobs()
        stripe_emulator.wait_for_deliveries()
    [attempt] = attempts(db, student.id)
    assert (attempt["status"], attempt["failure_code"], attempt["decline_code"]) == (
        "FAILED", "card_declined", "generic_decline"
    )  # fmt: skip
    assert balance(db, student.id) == 50


@BOTH_TIERS
def test_a_card_detached_at_stripe_turns_top_up_off(
    tier: str,
    client: httpx.Client, student: Account, stripe_emulator: Any,
    packages: dict[str, dict[str, Any]], db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    pm = save_card(client, student, stripe_emulator, VISA)
    turn_on(client, student, packages["starter"], threshold=10)
    stripe_client(stripe_emulator).v1.payment_methods.detach(pm)
    stripe_emulator.wait_for_deliveries()
    view = client.get("/api/credits/auto-top-up", headers=student.headers).json()
    assert (view["state"], view["paymentMethod"]) == ("OFF", None)
    assert _outcomes(db, "payment_method.detached")[-1] == "card_forgotten"
    assert spend(client, student, 95).status_code == 201
    assert attempts(db, student.id) == []


def test_a_purchases_payment_intent_is_not_a_top_up(
    client: httpx.Client, student: Account, stripe_emulator: Any,
    packages: dict[str, dict[str, Any]], db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    from tests.checkout.support import start_checkout

    started = start_checkout(client, student, packages["starter"]["id"])
    stripe_emulator.pay(started["sessionId"], VISA)
    stripe_emulator.wait_for_deliveries()
    assert _outcomes(db, "payment_intent.succeeded") == ["not_a_top_up"]
    assert balance(db, student.id) == 200
