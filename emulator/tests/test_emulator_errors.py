"""Stripe's error shapes: authentication, missing objects, bad parameters, idempotency."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import stripe

from stripe_emulator.testing import EmulatorServer

AUTH = {"Authorization": "Bearer sk_test_emulator_tests"}


def _error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    assert {"type", "message"} <= set(body["error"])
    # Stripe omits ``code`` and ``param`` when an error has none; never null.
    assert all(body["error"].get(key, "absent") is not None for key in ("code", "param"))
    return body["error"]


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({}, "You did not provide an API key"),
        ({"Authorization": "Bearer sk_test_"}, "Invalid API Key"),
        ({"Authorization": "Bearer pk_test_abc"}, "Invalid API Key"),
        ({"Authorization": "Bearer sk_" + "live_abcdefghijkl"}, "only accepts test-mode keys"),
        ({"Authorization": "Token sk_test_abc"}, "You did not provide an API key"),
    ],
)
def test_requests_without_a_valid_test_key_get_401(
    emulator: EmulatorServer, headers: dict[str, str], fragment: str
) -> None:
    response = httpx.get(f"{emulator.url}/v1/customers", headers=headers)
    assert response.status_code == 401
    error = _error(response)
    assert error["type"] == "invalid_request_error"
    assert fragment in error["message"]


def test_sdk_raises_authentication_error(emulator: EmulatorServer) -> None:
    client = stripe.StripeClient(
        "sk_live_not_here", base_addresses={"api": emulator.url}, max_network_retries=0
    )
    with pytest.raises(stripe.AuthenticationError):
        client.v1.customers.list()


def test_basic_auth_with_the_key_as_user_works(emulator: EmulatorServer) -> None:
    response = httpx.get(f"{emulator.url}/v1/customers", auth=("sk_test_abc", ""))
    assert response.status_code == 200
    assert response.json()["object"] == "list"


@pytest.mark.parametrize(
    ("call", "kind"),
    [
        (lambda c: c.v1.customers.retrieve("cus_nope"), "customer"),
        (lambda c: c.v1.checkout.sessions.retrieve("cs_test_nope"), "checkout.session"),
        (lambda c: c.v1.payment_intents.retrieve("pi_nope"), "payment_intent"),
        (lambda c: c.v1.charges.retrieve("ch_nope"), "charge"),
        (lambda c: c.v1.refunds.retrieve("re_nope"), "refund"),
        (lambda c: c.v1.events.retrieve("evt_nope"), "event"),
        (lambda c: c.v1.disputes.retrieve("du_nope"), "dispute"),
        (lambda c: c.v1.checkout.sessions.expire("cs_test_nope"), "checkout.session"),
    ],
)
def test_missing_objects_are_404_resource_missing(
    stripe_client: stripe.StripeClient, call: Callable[[stripe.StripeClient], Any], kind: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        call(stripe_client)
    assert info.value.http_status == 404
    assert info.value.code == "resource_missing"
    assert info.value.user_message.startswith(f"No such {kind}: '")


def test_unknown_urls_answer_in_stripes_shape(emulator: EmulatorServer) -> None:
    response = httpx.post(f"{emulator.url}/v1/nothing_here", headers=AUTH)
    assert response.status_code == 404
    assert "Unrecognized request URL (POST: /v1/nothing_here)" in _error(response)["message"]


def test_code_and_param_are_left_out_when_an_error_has_none(
    emulator: EmulatorServer, paid_session: Any
) -> None:
    no_key = _error(httpx.get(f"{emulator.url}/v1/customers"))
    assert set(no_key) == {"type", "message"}
    unknown_url = _error(httpx.get(f"{emulator.url}/v1/nothing_here", headers=AUTH))
    assert set(unknown_url) == {"type", "message"}

    # A code without a param: refunding a disputed charge.
    emulator.dispute(payment_intent=paid_session.payment_intent)
    disputed = _error(
        httpx.post(
            f"{emulator.url}/v1/refunds",
            headers=AUTH,
            data={"payment_intent": paid_session.payment_intent},
        )
    )
    assert (disputed["code"], "param" in disputed) == ("charge_disputed", False)
    assert disputed["doc_url"].endswith("/charge-disputed")

    # Both, when the error has both.
    missing = _error(httpx.get(f"{emulator.url}/v1/customers/cus_nope", headers=AUTH))
    assert (missing["code"], missing["param"]) == ("resource_missing", "id")


def _line(**price_data: Any) -> list[dict[str, Any]]:
    data = {"currency": "gbp", "unit_amount": 1000, "product_data": {"name": "x"}, **price_data}
    return [{"quantity": 1, "price_data": data}]


@pytest.mark.parametrize(
    ("overrides", "param", "fragment"),
    [
        ({"line_items": None}, "line_items", "Missing required param: line_items"),
        ({"mode": None}, "mode", "Missing required param: mode"),
        (
            {"mode": "subscription"},
            "line_items[0][price_data][recurring]",
            "only a recurring price in subscription mode",
        ),
        (
            {"mode": "payment", "line_items": _line(recurring={"interval": "month"})},
            "line_items[0][price_data][recurring]",
            "recurring price in `payment` mode",
        ),
        ({"expires_at": "soon"}, "expires_at", "Invalid integer"),
        (
            {"line_items": _line(unit_amount="ten")},
            "line_items[0][price_data][unit_amount]",
            "Invalid integer: ten",
        ),
        (
            {"line_items": _line(unit_amount="10.5")},
            "line_items[0][price_data][unit_amount]",
            "Invalid integer",
        ),
        (
            {"line_items": [{"quantity": 0, "price_data": _line()[0]["price_data"]}]},
            "line_items[0][quantity]",
            "greater than or equal to 1",
        ),
        ({"line_items": _line(currency="xyz")}, "line_items[0][price_data][currency]", "currency"),
        ({"line_items": _line(unit_amount=10)}, "line_items", "at least £0.30"),
        ({"line_items": [{"quantity": 1}]}, "line_items[0]", "`price_data`"),
        ({"success_url": "not a url"}, "success_url", "Not a valid URL"),
        ({"colour": "blue"}, "colour", "Received unknown parameter: colour"),
        ({"customer_email": "not-an-email"}, "customer_email", "Invalid email"),
        ({"customer": "cus_missing"}, "customer", "No such customer: 'cus_missing'"),
        ({"discounts": [{"coupon": "X"}]}, "discounts[0][coupon]", "No such coupon: 'X'"),
    ],
)
def test_bad_session_parameters_give_400_naming_the_param(
    stripe_client: stripe.StripeClient,
    session_params: Callable[..., dict[str, Any]],
    overrides: dict[str, Any],
    param: str,
    fragment: str,
) -> None:
    params = {k: v for k, v in session_params(**overrides).items() if v is not None}
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.create(params=params)
    assert info.value.http_status == 400
    assert info.value.param == param
    assert fragment in info.value.user_message
    assert stripe_client.v1.checkout.sessions.list().data == []


@pytest.mark.parametrize(
    ("offset", "fragment"), [(29 * 60, "at least 30 minutes"), (24 * 3600 + 60, "less than 24")]
)
def test_expires_at_must_be_between_30_minutes_and_24_hours(
    make_session: Callable[..., Any], offset: int, fragment: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        make_session(expires_at=int(time.time()) + offset)
    assert info.value.param == "expires_at"
    assert fragment in info.value.user_message
    # The bounds themselves are accepted.
    assert make_session(expires_at=int(time.time()) + 31 * 60).status == "open"
    assert make_session(expires_at=int(time.time()) + 23 * 3600).status == "open"


def test_customer_and_customer_email_are_exclusive(
    stripe_client: stripe.StripeClient, make_session: Callable[..., Any]
) -> None:
    customer = stripe_client.v1.customers.create(params={"email": "a@example.com"})
    with pytest.raises(stripe.InvalidRequestError, match="only specify one of"):
        make_session(customer=customer.id, customer_email="b@example.com")


def test_raw_form_encoding_with_bracketed_arrays(emulator: EmulatorServer) -> None:
    # ``expand[]`` and ``line_items[0][...]`` exactly as curl users write them.
    form = {
        "mode": "payment",
        "line_items[0][quantity]": "2",
        "line_items[0][price_data][currency]": "gbp",
        "line_items[0][price_data][unit_amount]": "450",
        "line_items[0][price_data][product_data][name]": "Credits",
        "metadata[0]": "zero",
        "expand[]": "line_items",
    }
    response = httpx.post(f"{emulator.url}/v1/checkout/sessions", data=form, headers=AUTH)
    assert response.status_code == 200, response.text
    session = response.json()
    assert session["amount_total"] == 900
    assert session["metadata"] == {"0": "zero"}
    assert session["line_items"]["data"][0]["quantity"] == 2
    assert response.headers["request-id"].startswith("req_")
    assert response.headers["stripe-version"]


def test_unexpandable_path_is_refused(
    stripe_client: stripe.StripeClient, make_session: Callable[..., Any]
) -> None:
    session = make_session()
    with pytest.raises(stripe.InvalidRequestError, match=r"cannot be expanded \(mode\)"):
        stripe_client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["mode"]})


def test_idempotent_replay_returns_the_first_response(
    stripe_client: stripe.StripeClient, emulator: EmulatorServer
) -> None:
    params = {"email": "once@example.com"}
    first = stripe_client.v1.customers.create(params=params, options={"idempotency_key": "k-1"})
    second = stripe_client.v1.customers.create(params=params, options={"idempotency_key": "k-1"})
    assert second.id == first.id
    assert second.to_dict() == first.to_dict()
    assert len(stripe_client.v1.customers.list().data) == 1
    assert len(stripe_client.v1.events.list(params={"type": "customer.created"}).data) == 1

    raw = httpx.post(
        f"{emulator.url}/v1/customers",
        data=params,
        headers={**AUTH, "Idempotency-Key": "k-1"},
    )
    assert raw.headers["idempotent-replayed"] == "true"
    assert raw.json()["id"] == first.id


def test_idempotency_key_with_other_parameters_is_an_idempotency_error(
    stripe_client: stripe.StripeClient,
) -> None:
    stripe_client.v1.customers.create(
        params={"email": "a@example.com"}, options={"idempotency_key": "k-2"}
    )
    with pytest.raises(stripe.IdempotencyError) as info:
        stripe_client.v1.customers.create(
            params={"email": "b@example.com"}, options={"idempotency_key": "k-2"}
        )
    assert info.value.http_status == 400
    assert "same parameters" in info.value.user_message
    with pytest.raises(stripe.IdempotencyError, match="same endpoint"):
        stripe_client.v1.refunds.create(
            params={"payment_intent": "pi_x"}, options={"idempotency_key": "k-2"}
        )
    assert len(stripe_client.v1.customers.list().data) == 1


def test_a_refused_request_does_not_burn_its_idempotency_key(
    stripe_client: stripe.StripeClient, session_params: Callable[..., dict[str, Any]]
) -> None:
    bad = session_params(line_items=_line(unit_amount="ten"))
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.checkout.sessions.create(params=bad, options={"idempotency_key": "k-3"})
    good = stripe_client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "k-3"}
    )
    assert good.status == "open"


def test_idempotent_refund_is_not_repeated(
    stripe_client: stripe.StripeClient, paid_session: Any
) -> None:
    params = {"payment_intent": paid_session.payment_intent, "amount": 100}
    first = stripe_client.v1.refunds.create(params=params, options={"idempotency_key": "r-1"})
    again = stripe_client.v1.refunds.create(params=params, options={"idempotency_key": "r-1"})
    assert again.id == first.id
    charge = stripe_client.v1.charges.retrieve(first.charge)
    assert charge.amount_refunded == 100
    event = stripe_client.v1.events.list(params={"type": "refund.created"}).data[0]
    assert event.request.idempotency_key == "r-1"


def test_control_api_errors_use_the_same_shape(emulator: EmulatorServer) -> None:
    response = httpx.post(f"{emulator.url}/_emulator/checkout/sessions/cs_test_nope/pay", json={})
    assert response.status_code == 404
    assert _error(response)["code"] == "resource_missing"
    response = httpx.post(f"{emulator.url}/_emulator/faults", json={"delay_ms": -1})
    assert response.status_code == 400
    assert _error(response)["param"] == "delay_ms"


def test_configured_api_keys_are_the_only_ones_accepted() -> None:
    from stripe_emulator.testing import start_emulator

    with start_emulator(api_keys=["sk_test_the_one"]) as strict:
        ok = httpx.get(f"{strict.url}/v1/customers", auth=("sk_test_the_one", ""))
        other = httpx.get(f"{strict.url}/v1/customers", auth=("sk_test_another", ""))
    assert ok.status_code == 200
    assert other.status_code == 401
    assert _error(other)["code"] == "api_key_invalid"
