"""Issue 3's "done when": public API + official SDK + control API, no network."""

from __future__ import annotations

import threading
import time
from typing import Any

import stripe

from stripe_emulator.examples import quickstart
from stripe_emulator.testing import EmulatorServer


def test_customer_session_pay_webhook_refund_webhook(
    emulator: EmulatorServer, stripe_client: stripe.StripeClient
) -> None:
    receiver = quickstart.VerifiedEvents(quickstart.WEBHOOK_SECRET)
    try:
        summary: dict[str, Any] = quickstart.run(emulator.url, receiver)
    finally:
        receiver.close()
    assert summary["payment_status"] == "paid"
    assert summary["amount_refunded"] == 1000
    assert summary["session"].startswith("cs_test_")
    session = stripe_client.v1.checkout.sessions.retrieve(summary["session"])
    assert session.payment_intent == summary["payment_intent"]
    assert stripe_client.v1.refunds.retrieve(summary["refund"]).status == "succeeded"


def test_the_example_script_runs_on_its_own() -> None:
    before = threading.active_count()
    summary = quickstart.main([])
    assert summary["payment_status"] == "paid"
    assert summary["refund"].startswith("re_")
    # Its emulator and receiver threads end with it.
    deadline = time.monotonic() + 5
    while threading.active_count() > before:
        assert time.monotonic() < deadline, threading.enumerate()
        time.sleep(0.02)
