"""Checkout parameters as API 2026-10-28 names them: ``ui_mode`` and the
``allowed_payment_method_types`` filter, carried onto the PaymentIntent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import stripe

from stripe_emulator.client import EmulatorError
from stripe_emulator.testing import EmulatorServer


@pytest.mark.parametrize("ui_mode", [None, "hosted_page", "hosted"])
def test_the_hosted_page_is_hosted_page_whatever_name_the_request_uses(
    make_session: Callable[..., Any], ui_mode: str | None
) -> None:
    session = make_session(**({"ui_mode": ui_mode} if ui_mode else {}))
    assert session.ui_mode == "hosted_page"
    assert session.url.endswith(f"/c/pay/{session.id}")


@pytest.mark.parametrize(
    ("ui_mode", "message"),
    [
        ("embedded_page", "supports only ui_mode=hosted_page"),
        ("elements", "supports only ui_mode=hosted_page"),
        ("popup", "must be one of"),
    ],
)
def test_other_ui_modes_are_refused_clearly(
    stripe_client: stripe.StripeClient,
    session_params: Callable[..., dict[str, Any]],
    ui_mode: str,
    message: str,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.create(params=session_params(ui_mode=ui_mode))
    assert info.value.param == "ui_mode"
    assert message in info.value.user_message
    assert stripe_client.v1.checkout.sessions.list().data == []


def test_allowed_payment_method_types_filters_what_is_offered(
    emulator: EmulatorServer, stripe_client: stripe.StripeClient, make_session: Callable[..., Any]
) -> None:
    session = make_session(allowed_payment_method_types=["card", "klarna"])
    assert session.allowed_payment_method_types == ["card", "klarna"]
    assert session.payment_method_types == ["card"]  # klarna is not offered here
    with pytest.raises(EmulatorError, match="does not accept bacs_debit"):
        emulator.pay(session.id, method="bank_transfer")

    emulator.pay(session.id)
    pi_id = stripe_client.v1.checkout.sessions.retrieve(session.id).payment_intent
    pi = stripe_client.v1.payment_intents.retrieve(pi_id)
    assert pi.allowed_payment_method_types == ["card", "klarna"]
    assert pi.payment_record.startswith("pr_")


def test_payment_record_is_null_until_a_bank_debit_is_paid(
    emulator: EmulatorServer, stripe_client: stripe.StripeClient, make_session: Callable[..., Any]
) -> None:
    session = make_session()
    emulator.pay(session.id, method="bank_transfer")
    pi_id = stripe_client.v1.checkout.sessions.retrieve(session.id).payment_intent
    pi = stripe_client.v1.payment_intents.retrieve(pi_id)
    assert (pi.status, pi.payment_record, pi.allowed_payment_method_types) == (
        "processing",
        None,
        None,
    )
    emulator.settle(session.id)
    assert stripe_client.v1.payment_intents.retrieve(pi_id).payment_record.startswith("pr_")


@pytest.mark.parametrize(
    ("params", "param"),
    [
        (
            {"allowed_payment_method_types": ["card"], "payment_method_types": ["card"]},
            "allowed_payment_method_types",
        ),
        ({"allowed_payment_method_types": ["klarna"]}, "allowed_payment_method_types"),
    ],
)
def test_impossible_payment_method_filters_are_refused(
    stripe_client: stripe.StripeClient,
    session_params: Callable[..., dict[str, Any]],
    params: dict[str, Any],
    param: str,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.create(params=session_params(**params))
    assert info.value.param == param
    assert stripe_client.v1.checkout.sessions.list().data == []
