"""The control API's own behaviour, through both clients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import stripe

from stripe_emulator.client import AsyncEmulatorControl, EmulatorError
from stripe_emulator.testing import EmulatorServer


async def test_async_client_drives_a_payment(
    emulator: EmulatorServer, make_session: Callable[..., Any], receiver: Any
) -> None:
    control = AsyncEmulatorControl(emulator.url)
    try:
        await control.add_endpoint(f"{receiver.url}/async", secret="whsec_async")
        session = make_session()
        paid = await control.pay(session.id)
        assert (paid["status"], paid["payment_status"]) == ("complete", "paid")
        assert (await control.wait_for_deliveries())["idle"] is True
        delivered = await control.deliveries(type="checkout.session.completed")
        assert [d["ok"] for d in delivered] == [True]
        with pytest.raises(EmulatorError) as info:
            await control.pay(session.id)
        assert info.value.status_code == 400
    finally:
        await control.aclose()


async def test_async_client_fails_and_settles_refunds_and_submits_evidence(
    emulator: EmulatorServer, make_session: Callable[..., Any], stripe_client: stripe.StripeClient
) -> None:
    control = AsyncEmulatorControl(emulator.url)
    try:
        card = make_session()
        await control.pay(card.id, card="4000000000005126")
        card_pi = stripe_client.v1.checkout.sessions.retrieve(card.id).payment_intent
        refund = await control.refund(payment_intent=card_pi, amount=100, metadata={"k": "v"})
        assert refund["metadata"] == {"k": "v"}
        failed = await control.fail_refund(refund["id"], failure_reason="unknown")
        assert (failed["status"], failed["failure_reason"]) == ("failed", "unknown")

        bank = make_session()
        await control.pay(bank.id, method="bank_transfer")
        await control.settle(bank.id)
        bank_pi = stripe_client.v1.checkout.sessions.retrieve(bank.id).payment_intent
        pending = await control.refund(payment_intent=bank_pi)
        assert (await control.succeed_refund(pending["id"]))["status"] == "succeeded"

        disputed = make_session()
        await control.pay(disputed.id, card="4000000000000259")
        pi_id = stripe_client.v1.checkout.sessions.retrieve(disputed.id).payment_intent
        (dispute,) = stripe_client.v1.disputes.list(params={"payment_intent": pi_id}).data
        submitted = await control.submit_dispute_evidence(dispute.id, {"receipt": "file_1"})
        assert submitted["status"] == "under_review"
        assert (await control.close_dispute(dispute.id, "lost"))["status"] == "lost"
        assert (await control.advance_clock(120))["refunds"] == 0
    finally:
        await control.aclose()


def test_declined_card_through_the_control_api_is_a_402_card_error(
    emulator: EmulatorServer, make_session: Callable[..., Any]
) -> None:
    session = make_session()
    with pytest.raises(EmulatorError) as info:
        emulator.pay(session.id, card="4000000000000002")
    assert info.value.status_code == 402
    assert (info.value.type, info.value.code) == ("card_error", "card_declined")
    assert info.value.error["decline_code"] == "generic_decline"


def test_bank_transfer_needs_the_method_among_payment_method_types(
    emulator: EmulatorServer, make_session: Callable[..., Any]
) -> None:
    session = make_session(payment_method_types=["card"])
    with pytest.raises(EmulatorError, match="does not accept bacs_debit"):
        emulator.pay(session.id, method="bank_transfer")


def test_endpoints_are_replaced_by_url_and_reset_can_set_them(emulator: EmulatorServer) -> None:
    first = emulator.add_endpoint("http://127.0.0.1:9/a", secret="whsec_1")
    second = emulator.add_endpoint("http://127.0.0.1:9/a", secret="whsec_2")
    generated = emulator.add_endpoint("http://127.0.0.1:9/b")
    assert generated["secret"].startswith("whsec_")
    assert [e["secret"] for e in emulator.endpoints()] == ["whsec_2", generated["secret"]]
    assert first["id"] != second["id"]

    result = emulator.reset(webhook_endpoints=[{"url": "http://127.0.0.1:9/c", "secret": "s"}])
    assert [e["url"] for e in result["webhook_endpoints"]] == ["http://127.0.0.1:9/c"]
    with pytest.raises(EmulatorError) as info:
        emulator.remove_endpoint("we_missing")
    assert info.value.status_code == 404


def test_faults_are_listed_and_cleared(emulator: EmulatorServer) -> None:
    hook = emulator.add_endpoint("http://127.0.0.1:9/f")
    state = emulator.set_faults(hook["url"], drop_first=2, seed=1)
    assert (state["endpoint"], state["drop_first"]) == (hook["id"], 2)
    listed = httpx.get(f"{emulator.url}/_emulator/faults").json()
    assert listed[hook["id"]]["drop_first"] == 2
    emulator.clear_faults()
    assert httpx.get(f"{emulator.url}/_emulator/faults").json() == {}
    with pytest.raises(EmulatorError, match="unknown parameter: drop_all"):
        emulator.set_faults(drop_all=True)


def test_clock_moves_object_time(
    emulator: EmulatorServer, stripe_client: stripe.StripeClient
) -> None:
    before = httpx.get(f"{emulator.url}/_emulator/clock").json()["now"]
    emulator.advance_clock(3600)
    customer = stripe_client.v1.customers.create(params={"email": "later@example.com"})
    assert customer.created >= before + 3600
    emulator.reset()
    assert httpx.get(f"{emulator.url}/_emulator/clock").json()["offset"] == 0
