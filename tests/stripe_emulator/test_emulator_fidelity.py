"""Every top-level field of Stripe's official example objects is on the emulator's.

The examples are ``fixtures3.json`` from Stripe's OpenAPI repository, kept outside
this repository at ``../shared/stripe/fixtures3.json`` (relative to its root).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from stripe_emulator.testing import EmulatorServer

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "stripe" / "fixtures3.json"
RESOURCES = [
    "checkout.session",
    "customer",
    "event",
    "payment_intent",
    "charge",
    "refund",
    "dispute",
]


@pytest.fixture(scope="module")
def official() -> dict[str, Any]:
    if not FIXTURES.is_file():
        pytest.skip(
            f"Stripe's fixtures3.json is not at {FIXTURES} (a checkout outside the workspace)"
        )
    return json.loads(FIXTURES.read_text())["resources"]


@pytest.fixture(scope="module")
def ours(emulator: EmulatorServer) -> dict[str, dict[str, Any]]:
    """One of each object, as raw JSON from the wire (not through the SDK)."""
    emulator.reset(webhook_endpoints=[])
    http = httpx.Client(base_url=emulator.url, headers={"Authorization": "Bearer sk_test_fidelity"})

    def call(method: str, path: str, **data: Any) -> dict[str, Any]:
        response = http.request(method, path, data=data or None)
        assert response.status_code == 200, response.text
        return response.json()

    customer = call("POST", "/v1/customers", email="f@example.com")
    session = call(
        "POST",
        "/v1/checkout/sessions",
        **{
            "mode": "payment",
            "customer": customer["id"],
            "line_items[0][quantity]": "1",
            "line_items[0][price_data][currency]": "gbp",
            "line_items[0][price_data][unit_amount]": "1000",
            "line_items[0][price_data][product_data][name]": "100 credits",
            "success_url": "https://example.com/ok",
        },
    )
    emulator.pay(session["id"])
    session = call("GET", f"/v1/checkout/sessions/{session['id']}")
    pi = call("GET", f"/v1/payment_intents/{session['payment_intent']}")
    refund = call("POST", "/v1/refunds", payment_intent=pi["id"], amount="100")
    charge = call("GET", f"/v1/charges/{pi['latest_charge']}")
    dispute = emulator.dispute(charge=charge["id"])
    dispute = call("GET", f"/v1/disputes/{dispute['id']}")
    event = call("GET", "/v1/events")["data"][0]
    event = call("GET", f"/v1/events/{event['id']}")
    http.close()
    return {
        "checkout.session": session,
        "customer": customer,
        "event": event,
        "payment_intent": pi,
        "charge": charge,
        "refund": refund,
        "dispute": dispute,
    }


@pytest.mark.parametrize("resource", RESOURCES)
def test_every_official_top_level_field_is_present(
    official: dict[str, Any], ours: dict[str, dict[str, Any]], resource: str
) -> None:
    expected = set(official[resource])
    missing = sorted(expected - set(ours[resource]))
    assert missing == [], f"{resource} lacks {missing}"
    assert ours[resource]["object"] == official[resource]["object"]
    if "livemode" in official[resource]:  # refunds have none
        assert ours[resource]["livemode"] is False


@pytest.mark.parametrize("resource", RESOURCES)
def test_field_types_match_where_both_are_set(
    official: dict[str, Any], ours: dict[str, dict[str, Any]], resource: str
) -> None:
    # Values differ, but a field that is an integer, a string or a hash in Stripe's
    # example must not be something else here (None is always allowed: nullable).
    mismatched = [
        key
        for key, value in official[resource].items()
        if value is not None
        and ours[resource].get(key) is not None
        and type(value) is not type(ours[resource][key])
    ]
    assert mismatched == []
