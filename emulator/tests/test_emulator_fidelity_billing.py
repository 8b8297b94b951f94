"""Billing objects have Stripe's fields at the emulator's API version (2026-10-28).

Product, price, subscription, subscription item, invoice, invoice line item, invoice
payment, test clock, billing portal session and subscription schedule, as raw JSON from
the wire: every top-level field of Stripe's fixture is there (but one the API version
removed), no field is unknown to the pinned SDK, types agree with the fixture, and every
enum value is one the SDK knows.
"""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from fidelity_support import Wire, declared, literals, official, type_mismatches
from stripe_emulator.testing import EmulatorServer

SDK_CLASSES: dict[str, type] = {
    "product": stripe.Product,
    "price": stripe.Price,
    "subscription": stripe.Subscription,
    "subscription_item": stripe.SubscriptionItem,
    "invoice": stripe.Invoice,
    "line_item": stripe.InvoiceLineItem,
    "invoice_payment": stripe.InvoicePayment,
    "test_helpers.test_clock": stripe.test_helpers.TestClock,
    "billing_portal.session": stripe.billing_portal.Session,
    "subscription_schedule": stripe.SubscriptionSchedule,
}
RESOURCES = list(SDK_CLASSES)
# In the fixtures, not in the API version: 2025-03-31.basil moved an invoice's subscription
# to parent.subscription_details.subscription, and the pinned SDK no longer declares it.
REMOVED = {("invoice", "subscription")}
JAN_4 = 1_799_053_200
FEB_4_AND_AN_HOUR = 1_801_731_600 + 3601

__all__ = ["official"]  # a fixture, imported for pytest


@pytest.fixture(scope="module")
def ours(emulator: EmulatorServer) -> dict[str, dict[str, Any]]:
    """One of each billing object, renewed once on a test clock, as raw JSON."""
    emulator.reset(webhook_endpoints=[])
    call = Wire(emulator.url, "sk_test_fid")

    clock = call("POST", "/v1/test_helpers/test_clocks", frozen_time=str(JAN_4), name="fidelity")
    customer = call("POST", "/v1/customers", email="f@example.com", test_clock=clock["id"])
    product = call("POST", "/v1/products", name="500 credits a month")
    price = call(
        "POST", "/v1/prices", product=product["id"], currency="gbp", unit_amount="1500",
        **{"recurring[interval]": "month"},
    )  # fmt: skip
    session = call(
        "POST", "/v1/checkout/sessions", mode="subscription", customer=customer["id"],
        success_url="https://example.com/ok",
        **{"line_items[0][price]": price["id"], "line_items[0][quantity]": "1"},
    )  # fmt: skip
    emulator.pay(session["id"])
    session = call("GET", f"/v1/checkout/sessions/{session['id']}")
    call("POST", f"/v1/test_helpers/test_clocks/{clock['id']}/advance",
         frozen_time=str(FEB_4_AND_AN_HOUR))  # fmt: skip
    emulator.wait_for_deliveries()  # the clock is ready once its work is done
    sub = call("GET", f"/v1/subscriptions/{session['subscription']}")
    invoice = call("GET", f"/v1/invoices/{sub['latest_invoice']}")
    payments = call("GET", "/v1/invoice_payments", invoice=invoice["id"])["data"]
    portal = call("POST", "/v1/billing_portal/sessions", customer=customer["id"],
                  return_url="https://example.com/account")  # fmt: skip
    schedule = call("POST", "/v1/subscription_schedules", from_subscription=sub["id"])
    phase = schedule["phases"][0]
    schedule = call(
        "POST",
        f"/v1/subscription_schedules/{schedule['id']}",
        **{
            "phases[0][items][0][price]": price["id"],
            "phases[0][start_date]": str(phase["start_date"]),
            "phases[0][end_date]": str(phase["end_date"]),
            "phases[1][items][0][price]": price["id"],
            "phases[1][items][0][quantity]": "2",
        },
    )
    objects = {
        "product": product,
        "price": price,
        "subscription": sub,
        "subscription_item": call("GET", f"/v1/subscription_items/{sub['items']['data'][0]['id']}"),
        "invoice": invoice,
        "line_item": call("GET", f"/v1/invoices/{invoice['id']}/lines")["data"][0],
        "invoice_payment": call("GET", f"/v1/invoice_payments/{payments[0]['id']}"),
        "test_helpers.test_clock": call("GET", f"/v1/test_helpers/test_clocks/{clock['id']}"),
        "billing_portal.session": portal,
        "subscription_schedule": schedule,
        "checkout.session": session,
    }
    call.close()
    return objects


@pytest.mark.parametrize("resource", RESOURCES)
def test_every_official_top_level_field_is_present(
    official: dict[str, Any], ours: dict[str, dict[str, Any]], resource: str
) -> None:
    expected = {f for f in official[resource] if (resource, f) not in REMOVED}
    assert sorted(expected - set(ours[resource])) == []
    assert ours[resource]["object"] == official[resource]["object"]
    if "livemode" in official[resource]:  # subscription items have none
        assert ours[resource]["livemode"] is False


def test_the_fields_left_out_are_the_ones_the_api_version_removed() -> None:
    for resource, field in REMOVED:
        assert field not in declared(SDK_CLASSES[resource])


@pytest.mark.parametrize("resource", RESOURCES)
def test_field_types_match_where_both_are_set(
    official: dict[str, Any], ours: dict[str, dict[str, Any]], resource: str
) -> None:
    assert type_mismatches(official[resource], ours[resource]) == []


@pytest.mark.parametrize("resource", RESOURCES)
def test_no_field_is_unknown_to_the_api_version_and_enums_hold_its_values(
    ours: dict[str, dict[str, Any]], resource: str
) -> None:
    fields = declared(SDK_CLASSES[resource])
    assert sorted(set(ours[resource]) - set(fields)) == []
    for key, value in ours[resource].items():
        allowed = literals(fields[key])
        if allowed and isinstance(value, str):
            assert value in allowed, f"{resource}.{key} = {value!r}"


def test_the_objects_hold_what_stripe_puts_there(ours: dict[str, dict[str, Any]]) -> None:
    sub, invoice, line = ours["subscription"], ours["invoice"], ours["line_item"]
    item = sub["items"]["data"][0]
    assert (sub["status"], sub["billing_mode"]["type"]) == ("active", "flexible")
    assert (item["current_period_start"], item["plan"]["id"]) == (
        1_801_731_600,
        item["price"]["id"],
    )
    assert "current_period_end" not in sub  # on the items since 2025-03-31.basil
    assert (invoice["billing_reason"], invoice["status"]) == ("subscription_cycle", "paid")
    assert invoice["parent"]["subscription_details"]["subscription"] == sub["id"]
    assert "payment_intent" not in invoice
    assert "payments" not in invoice
    assert line["parent"]["subscription_item_details"]["subscription_item"] == item["id"]
    assert line["pricing"]["price_details"]["price"] == item["price"]["id"]
    assert ours["invoice_payment"]["payment"]["type"] == "payment_intent"
    assert ours["checkout.session"]["mode"] == "subscription"
    assert ours["checkout.session"]["payment_intent"] is None
