"""The emulator's objects have Stripe's fields, at the API version it announces.

Two references: ``fixtures3.json`` from Stripe's OpenAPI repository (kept outside this
repository at ``../shared/stripe/fixtures3.json``, relative to its root): every
top-level field of its examples is on ours (without the file these tests skip locally
and fail under ``CI=true``: CI must never pass them unchecked); and the pinned SDK
(stripe 16.1.0, API 2026-10-28), whose classes declare each object's fields: ours has
no field the SDK does not know, has the fields that version added, and uses its enum
values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import stripe

from emulator_support import REFUND_FAILS_CARD, require_file
from fidelity_support import Wire, declared, literals, official, type_mismatches
from stripe_emulator.config import DEFAULT_API_VERSION
from stripe_emulator.testing import EmulatorServer

RESOURCES = [
    "checkout.session",
    "customer",
    "event",
    "payment_intent",
    "charge",
    "refund",
    "dispute",
    "payment_method",
    "setup_intent",
    "coupon",
    "discount",
    "item",
]
# Other states of the same objects, checked against the same official example.
VARIANTS = {
    "refund (failed)": "refund",
    "refund (pending)": "refund",
    "payment_intent (off-session, declined)": "payment_intent",
    "charge (declined)": "charge",
    "checkout.session (setup)": "checkout.session",
    "setup_intent (succeeded)": "setup_intent",
    "checkout.session (discounted)": "checkout.session",
    "coupon (amount_off)": "coupon",
}
SDK_CLASSES: dict[str, type] = {
    "checkout.session": stripe.checkout.Session,
    "customer": stripe.Customer,
    "event": stripe.Event,
    "payment_intent": stripe.PaymentIntent,
    "charge": stripe.Charge,
    "refund": stripe.Refund,
    "dispute": stripe.Dispute,
    "payment_method": stripe.PaymentMethod,
    "setup_intent": stripe.SetupIntent,
    "coupon": stripe.Coupon,
    "discount": stripe.Discount,
    "item": stripe.LineItem,
}
# Fields of API 2026-10-28 that the older fixtures lack (issue 8); sent even when null.
NEW_FIELDS = [
    ("checkout.session", "allowed_payment_method_types"),
    ("checkout.session", "ui_mode"),
    ("payment_intent", "allowed_payment_method_types"),
    ("payment_intent", "payment_record"),
    ("dispute", "intended_submission_method"),
    ("setup_intent", "allowed_payment_method_types"),
]

__all__ = ["official"]  # a fixture, imported for pytest


@pytest.fixture(scope="module")
def ours(emulator: EmulatorServer) -> dict[str, dict[str, Any]]:
    """One of each object, as raw JSON from the wire (not through the SDK)."""
    emulator.reset(webhook_endpoints=[])
    call = Wire(emulator.url, "sk_test_fidelity")

    customer = call("POST", "/v1/customers", email="f@example.com")
    ok_url = "https://example.com/ok"
    line_items = {
        "mode": "payment",
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": "gbp",
        "line_items[0][price_data][unit_amount]": "1000",
        "line_items[0][price_data][product_data][name]": "100 credits",
    }
    session = call(
        "POST",
        "/v1/checkout/sessions",
        **{**line_items, "customer": customer["id"], "success_url": ok_url},
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

    # A refund that fails later (card 5126) and one that starts pending (Bacs debit).
    failing = call("POST", "/v1/checkout/sessions", **{**line_items, "success_url": ok_url})
    emulator.pay(failing["id"], card=REFUND_FAILS_CARD)
    failing = call("GET", f"/v1/checkout/sessions/{failing['id']}")
    refund_failed = emulator.fail_refund(
        call("POST", "/v1/refunds", payment_intent=failing["payment_intent"])["id"]
    )
    bank = call("POST", "/v1/checkout/sessions", **{**line_items, "success_url": ok_url})
    emulator.pay(bank["id"], method="bank_transfer")
    emulator.settle(bank["id"])
    bank = call("GET", f"/v1/checkout/sessions/{bank['id']}")
    refund_pending = call("POST", "/v1/refunds", payment_intent=bank["payment_intent"])

    # Saving a card (a setup-mode session) and charging it off-session (declined: 0341).
    setup = call(
        "POST",
        "/v1/checkout/sessions",
        mode="setup",
        currency="gbp",
        customer=customer["id"],
        success_url=ok_url,
    )
    setup_intent = call("GET", f"/v1/setup_intents/{setup['setup_intent']}")
    emulator.pay(setup["id"], card="4000000000000341")
    setup = call("GET", f"/v1/checkout/sessions/{setup['id']}")
    setup_done = call("GET", f"/v1/setup_intents/{setup['setup_intent']}")
    card = call("GET", f"/v1/payment_methods/{setup_done['payment_method']}")
    declined = call.http.post(
        "/v1/payment_intents",
        data={"amount": "1000", "currency": "gbp", "customer": customer["id"],
              "payment_method": card["id"], "off_session": "true", "confirm": "true"},
    ).json()["error"]  # fmt: skip
    pi_declined = call("GET", f"/v1/payment_intents/{declined['payment_intent']['id']}")
    charge_declined = call("GET", f"/v1/charges/{declined['charge']}")

    # A coupon on a session: the session, its line item and the discount object.
    coupon = call("POST", "/v1/coupons", percent_off="25.5", name="Spring")
    fixed = call("POST", "/v1/coupons", amount_off="100", currency="gbp")
    discounted = call(
        "POST",
        "/v1/checkout/sessions",
        **{**line_items, "success_url": ok_url, "discounts[0][coupon]": coupon["id"]},
    )
    breakdown = call.http.get(
        f"/v1/checkout/sessions/{discounted['id']}",
        params={"expand[]": "total_details.breakdown"},
    ).json()["total_details"]["breakdown"]
    item = call("GET", f"/v1/checkout/sessions/{discounted['id']}/line_items")["data"][0]
    deleted_coupon = call.http.delete(f"/v1/coupons/{fixed['id']}").json()
    call.close()
    return {
        "coupon": coupon,
        "coupon (amount_off)": fixed,
        "deleted_coupon": deleted_coupon,
        "checkout.session (discounted)": discounted,
        "discount": breakdown["discounts"][0]["discount"],
        "item": item,
        "payment_method": card,
        "setup_intent": setup_intent,
        "setup_intent (succeeded)": setup_done,
        "checkout.session (setup)": setup,
        "payment_intent (off-session, declined)": pi_declined,
        "charge (declined)": charge_declined,
        "refund (failed)": refund_failed,
        "refund (pending)": refund_pending,
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
    assert type_mismatches(official[resource], ours[resource]) == []


def _declared(resource: str) -> dict[str, Any]:
    return declared(SDK_CLASSES[resource])


def test_a_missing_fixtures_file_fails_in_ci_and_skips_elsewhere(tmp_path: Path) -> None:
    missing = tmp_path / "fixtures3.json"
    for ci in ("true", "1", "TRUE"):
        with pytest.raises(pytest.fail.Exception, match="cannot run in CI"):
            require_file(missing, "the fixtures", ci=ci)
    for ci in ("", "false"):
        with pytest.raises(pytest.skip.Exception, match=str(missing)):
            require_file(missing, "the fixtures", ci=ci)
    missing.write_text("{}")
    require_file(missing, "the fixtures", ci="true")  # present: nothing to say


def test_the_sdk_is_the_api_version_the_emulator_announces() -> None:
    assert stripe.api_version == DEFAULT_API_VERSION


@pytest.mark.parametrize("resource", [*RESOURCES, *VARIANTS])
def test_no_field_is_unknown_to_the_api_version(
    ours: dict[str, dict[str, Any]], resource: str
) -> None:
    kind = VARIANTS.get(resource, resource)
    assert sorted(set(ours[resource]) - set(_declared(kind))) == []


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_other_states_have_every_official_field_too(
    official: dict[str, Any], ours: dict[str, dict[str, Any]], variant: str
) -> None:
    kind = VARIANTS[variant]
    # A refund's state fields come and go with its state (see the test below).
    optional = {"failure_reason", "failure_balance_transaction", "pending_reason"}
    missing = sorted(set(official[kind]) - set(ours[variant]) - optional)
    assert missing == [], f"{variant} lacks {missing}"


def test_the_card_hash_has_stripes_fields(
    official: dict[str, Any], ours: dict[str, dict[str, Any]]
) -> None:
    card = ours["payment_method"]["card"]
    expected = set(official["payment_method"]["card"])
    assert sorted(expected - set(card)) == []
    declared = _declared_of(stripe.PaymentMethod.Card)
    assert sorted(set(card) - declared) == []
    assert (card["brand"], card["last4"], card["exp_month"], card["exp_year"]) == (
        "visa", "0341", 12, 2034
    )  # fmt: skip
    assert len(card["fingerprint"]) == 16


def test_a_declined_intent_and_its_charge_look_as_on_stripe(
    ours: dict[str, dict[str, Any]],
) -> None:
    pi, charge = ours["payment_intent (off-session, declined)"], ours["charge (declined)"]
    error = pi["last_payment_error"]
    assert sorted(set(error) - _declared_of(stripe.PaymentIntent.LastPaymentError)) == []
    assert (error["type"], error["code"], error["decline_code"]) == (
        "card_error", "card_declined", "generic_decline"
    )  # fmt: skip
    assert error["charge"] == charge["id"] == pi["latest_charge"]
    assert error["payment_method"]["id"] == ours["payment_method"]["id"]
    assert (pi["status"], pi["payment_method"]) == ("requires_payment_method", None)
    assert (charge["status"], charge["outcome"]["type"]) == ("failed", "issuer_declined")
    assert sorted(set(charge["outcome"]) - _declared_of(stripe.Charge.Outcome)) == []


def test_a_setup_session_and_its_intent_hold_what_stripe_puts_there(
    ours: dict[str, dict[str, Any]],
) -> None:
    session = ours["checkout.session (setup)"]
    assert (session["mode"], session["payment_status"], session["status"]) == (
        "setup", "no_payment_required", "complete"
    )  # fmt: skip
    assert (session["amount_total"], session["amount_subtotal"], session["total_details"]) == (
        None, None, None
    )  # fmt: skip
    assert (session["payment_intent"], session["setup_intent"]) == (
        None, ours["setup_intent (succeeded)"]["id"]
    )  # fmt: skip
    created, done = ours["setup_intent"], ours["setup_intent (succeeded)"]
    assert (created["status"], created["payment_method"]) == ("requires_payment_method", None)
    assert (done["status"], done["payment_method"]) == ("succeeded", ours["payment_method"]["id"])
    assert done["usage"] == "off_session"
    assert done["allowed_payment_method_types"] is None


def test_a_deleted_coupon_is_stripes_stub(
    official: dict[str, Any], ours: dict[str, dict[str, Any]]
) -> None:
    assert set(ours["deleted_coupon"]) == set(official["deleted_coupon"])
    assert ours["deleted_coupon"]["deleted"] is True


def test_a_discounted_session_holds_what_stripe_puts_there(
    ours: dict[str, dict[str, Any]],
) -> None:
    session, coupon, item = (
        ours["checkout.session (discounted)"],
        ours["coupon"],
        ours["item"],
    )
    assert (session["amount_subtotal"], session["amount_total"]) == (1000, 745)  # 255 off
    assert session["total_details"]["amount_discount"] == 255
    assert session["discounts"] == [{"coupon": coupon["id"], "promotion_code": None}]
    assert (item["amount_discount"], item["amount_total"]) == (255, 745)
    assert coupon["percent_off"] == 25.5
    assert isinstance(coupon["percent_off"], float)
    discount = ours["discount"]
    assert discount["source"] == {"coupon": coupon["id"], "type": "coupon"}
    assert (discount["checkout_session"], discount["end"]) == (session["id"], None)
    declared = _declared_of(stripe.Discount.Source)
    assert set(discount["source"]) <= declared


def _declared_of(cls: type) -> set[str]:
    return set(declared(cls))


@pytest.mark.parametrize(("resource", "field"), NEW_FIELDS)
def test_fields_of_the_api_version_are_sent_with_its_values(
    ours: dict[str, dict[str, Any]], resource: str, field: str
) -> None:
    declared = _declared(resource)
    assert field in declared, f"the SDK does not declare {resource}.{field}"
    assert field in ours[resource], f"{resource} lacks {field} (it must be sent, even null)"
    allowed = literals(declared[field])
    value = ours[resource][field]
    if allowed and value is not None:
        assert value in allowed


def test_new_fields_hold_what_stripe_puts_there(ours: dict[str, dict[str, Any]]) -> None:
    session, pi = ours["checkout.session"], ours["payment_intent"]
    assert session["ui_mode"] == "hosted_page"  # the version's name for the hosted page
    # No filter was passed: null, while payment_method_types lists what is offered.
    assert session["allowed_payment_method_types"] is None
    assert session["payment_method_types"] == ["card", "bacs_debit"]
    assert pi["allowed_payment_method_types"] is None
    assert pi["payment_record"].startswith("pr_")  # paid: it has a Payment Record
    assert ours["dispute"]["intended_submission_method"] is None


def test_refund_state_fields_appear_only_in_their_state(ours: dict[str, dict[str, Any]]) -> None:
    state_fields = {"failure_reason", "failure_balance_transaction", "pending_reason"}
    succeeded, failed, pending = (
        ours["refund"],
        ours["refund (failed)"],
        ours["refund (pending)"],
    )
    assert succeeded["status"] == "succeeded"
    assert state_fields & set(succeeded) == set()
    assert failed["status"] == "failed"
    assert failed["failure_reason"] == "expired_or_canceled_card"
    assert failed["failure_balance_transaction"].startswith("txn_")
    assert "pending_reason" not in failed
    assert (pending["status"], pending["pending_reason"]) == ("pending", "processing")
    assert {"failure_reason", "failure_balance_transaction"} & set(pending) == set()
    assert pending["pending_reason"] in literals(_declared("refund")["pending_reason"])
