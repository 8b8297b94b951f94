"""Coupons (create, retrieve, update, delete, list) and Checkout Sessions created with
``discounts[0][coupon]``: the amounts, where Stripe shows the discount, a free session, the
hosted page and the events, through the official SDK over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import stripe

from emulator_support import delivered, event_types, listen, raw, types_of
from stripe_emulator.testing import EmulatorServer


def _item(amount: int, name: str = "100 credits") -> dict[str, Any]:
    price = {"currency": "gbp", "unit_amount": amount, "product_data": {"name": name}}
    return {"quantity": 1, "price_data": price}


def test_coupons_are_created_retrieved_updated_deleted_and_listed(
    stripe_client: stripe.StripeClient, emulator: EmulatorServer, receiver: Any
) -> None:
    listen(emulator, receiver)
    percent = stripe_client.v1.coupons.create(
        params={"percent_off": "25.5", "name": "Spring", "metadata": {"campaign": "c1"}}
    )
    assert (percent.percent_off, percent.amount_off, percent.currency) == (25.5, None, None)
    assert (percent.duration, percent.duration_in_months, percent.valid) == ("once", None, True)
    assert (percent.times_redeemed, percent.max_redemptions, percent.redeem_by) == (0, None, None)
    assert len(percent.id) == 8
    fixed = stripe_client.v1.coupons.create(
        params={"id": "WELCOME-5", "amount_off": 500, "currency": "GBP", "max_redemptions": 3}
    )
    assert (fixed.id, fixed.amount_off, fixed.currency, fixed.percent_off) == (
        "WELCOME-5", 500, "gbp", None
    )  # fmt: skip
    assert stripe_client.v1.coupons.retrieve("WELCOME-5").max_redemptions == 3

    renamed = stripe_client.v1.coupons.update(percent.id, params={"name": "Spring sale"})
    assert renamed.name == "Spring sale"
    assert [c.id for c in stripe_client.v1.coupons.list().data] == ["WELCOME-5", percent.id]

    deleted = stripe_client.v1.coupons.delete("WELCOME-5")
    assert raw(deleted) == {"id": "WELCOME-5", "object": "coupon", "deleted": True}
    with pytest.raises(stripe.InvalidRequestError) as gone:
        stripe_client.v1.coupons.retrieve("WELCOME-5")
    assert (gone.value.http_status, gone.value.code) == (404, "resource_missing")
    assert [c.id for c in stripe_client.v1.coupons.list().data] == [percent.id]

    events = delivered(emulator, receiver)  # signed, verified with the endpoint's secret
    assert types_of(events) == [
        "coupon.created", "coupon.created", "coupon.updated", "coupon.deleted"
    ]  # fmt: skip
    assert events[2].data.previous_attributes.to_dict() == {"name": "Spring"}
    assert events[3].data.object.id == "WELCOME-5"
    assert all(e.request.id for e in events)


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"percent_off": "10", "amount_off": 100, "currency": "gbp"}, "amount_off",
         None),
        ({"duration": "once"}, "percent_off", "parameter_missing"),
        ({"amount_off": 100}, "currency", "parameter_missing"),
        ({"percent_off": "0"}, "percent_off", "parameter_invalid"),
        ({"percent_off": "100.5"}, "percent_off", "parameter_invalid"),
        ({"percent_off": "12.345"}, "percent_off", "parameter_invalid"),
        ({"percent_off": "ten"}, "percent_off", "parameter_invalid"),
        ({"percent_off": "10", "duration": "repeating"}, "duration_in_months",
         "parameter_missing"),
        ({"percent_off": "10", "redeem_by": 1000}, "redeem_by", "parameter_invalid"),
        ({"percent_off": "10", "applies_to": {"products": ["prod_1"]}}, "applies_to",
         "parameter_invalid"),
        ({"percent_off": "10", "currency": "gbp"}, "currency", "parameter_invalid"),
    ],
)  # fmt: skip
def test_bad_coupons_are_refused_naming_the_param(
    stripe_client: stripe.StripeClient, params: dict[str, Any], param: str, code: str | None
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.coupons.create(params=params)
    assert (refused.value.http_status, refused.value.param, refused.value.code) == (
        400, param, code
    )  # fmt: skip
    assert stripe_client.v1.coupons.list().data == []


def test_a_coupon_id_is_taken_once(stripe_client: stripe.StripeClient) -> None:
    stripe_client.v1.coupons.create(params={"id": "ONCE", "percent_off": "10"})
    with pytest.raises(stripe.InvalidRequestError) as taken:
        stripe_client.v1.coupons.create(params={"id": "ONCE", "percent_off": "20"})
    assert (taken.value.code, taken.value.param) == ("resource_already_exists", "id")
    assert stripe_client.v1.coupons.retrieve("ONCE").percent_off == 10.0


def test_a_percent_coupon_discounts_the_session_as_stripe_shows_it(
    stripe_client: stripe.StripeClient,
    emulator: EmulatorServer,
    receiver: Any,
    make_session: Callable[..., Any],
) -> None:
    coupon = stripe_client.v1.coupons.create(params={"id": "TWENTY", "percent_off": "20"})
    listen(emulator, receiver)
    session = make_session(discounts=[{"coupon": coupon.id}])
    assert (session.amount_subtotal, session.amount_total) == (1000, 800)
    assert session.total_details.amount_discount == 200
    assert [d.to_dict() for d in session.discounts] == [
        {"coupon": "TWENTY", "promotion_code": None}
    ]
    assert session.payment_status == "unpaid"

    (item,) = stripe_client.v1.checkout.sessions.line_items.list(session.id).data
    assert (item.amount_subtotal, item.amount_discount, item.amount_total) == (1000, 200, 800)
    assert "discounts" not in raw(item)  # includable: only when expanded

    expanded = stripe_client.v1.checkout.sessions.retrieve(
        session.id,
        params={"expand": ["total_details.breakdown", "line_items.data.discounts",
                           "discounts.coupon"]},
    )  # fmt: skip
    (applied,) = expanded.total_details.breakdown.discounts
    assert applied.amount == 200
    discount = applied.discount
    assert (discount.object, discount.checkout_session, discount.source.coupon) == (
        "discount", session.id, "TWENTY"
    )  # fmt: skip
    assert discount.id.startswith("di_")
    assert expanded.total_details.breakdown.taxes == []
    (line,) = expanded.line_items.data
    assert [(d.amount, d.discount.id) for d in line.discounts] == [(200, discount.id)]
    assert expanded.discounts[0].coupon.percent_off == 20.0

    emulator.pay(session.id)
    paid = stripe_client.v1.checkout.sessions.retrieve(session.id)
    pi = stripe_client.v1.payment_intents.retrieve(paid.payment_intent)
    assert (pi.amount, pi.amount_received) == (800, 800)
    assert stripe_client.v1.charges.retrieve(pi.latest_charge).amount == 800
    assert stripe_client.v1.coupons.retrieve("TWENTY").times_redeemed == 1
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        stripe_client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 1000})
    assert too_much.value.code == "amount_too_large"

    completed = next(
        e for e in delivered(emulator, receiver) if e.type == "checkout.session.completed"
    )
    assert (completed.data.object.amount_total, completed.data.object.amount_subtotal) == (
        800, 1000
    )  # fmt: skip
    assert completed.data.object.total_details.amount_discount == 200
    assert completed.data.object.discounts[0].coupon == "TWENTY"


def test_discounts_add_up_across_line_items_in_whole_pence(
    stripe_client: stripe.StripeClient, make_session: Callable[..., Any]
) -> None:
    stripe_client.v1.coupons.create(params={"id": "POUND", "amount_off": 100, "currency": "gbp"})
    stripe_client.v1.coupons.create(params={"id": "THIRD", "percent_off": "33.33"})
    split = make_session(line_items=[_item(1000), _item(500, "50 credits")],
                         discounts=[{"coupon": "POUND"}])  # fmt: skip
    items = stripe_client.v1.checkout.sessions.line_items.list(split.id).data
    assert [i.amount_discount for i in items] == [67, 33]
    assert [i.amount_total for i in items] == [933, 467]
    assert (split.amount_total, split.total_details.amount_discount) == (1400, 100)

    odd = make_session(line_items=[_item(999)], discounts=[{"coupon": "THIRD"}])
    assert (odd.total_details.amount_discount, odd.amount_total) == (333, 666)  # 332.97


@pytest.mark.parametrize(
    "coupon",
    [{"percent_off": "100"}, {"amount_off": 5000, "currency": "gbp"}],
)
def test_a_free_session_completes_with_no_payment_required(
    stripe_client: stripe.StripeClient,
    emulator: EmulatorServer,
    receiver: Any,
    make_session: Callable[..., Any],
    customer: Any,
    coupon: dict[str, Any],
) -> None:
    free = stripe_client.v1.coupons.create(params={"id": "FREE", **coupon})
    listen(emulator, receiver)
    session = make_session(customer=customer.id, discounts=[{"coupon": free.id}])
    assert (session.amount_subtotal, session.amount_total) == (1000, 0)
    assert session.total_details.amount_discount == 1000
    assert session.payment_status == "no_payment_required"

    with httpx.Client() as browser:
        page = browser.get(session.url)
        assert "Complete order" in page.text
        assert 'name="card_number"' not in page.text  # no payment method is asked for
        done = browser.post(session.url, data={})
    assert done.status_code == 303
    after = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert (after.status, after.payment_status, after.payment_intent) == (
        "complete", "no_payment_required", None
    )  # fmt: skip
    assert after.customer_details.email == "saver@example.com"
    assert stripe_client.v1.payment_intents.list().data == []
    assert stripe_client.v1.coupons.retrieve("FREE").times_redeemed == 1
    assert types_of(delivered(emulator, receiver)) == ["checkout.session.completed"]


def test_the_hosted_page_shows_the_discount(
    stripe_client: stripe.StripeClient, make_session: Callable[..., Any]
) -> None:
    stripe_client.v1.coupons.create(params={"id": "SPRING", "percent_off": "20",
                                            "name": "Spring offer"})  # fmt: skip
    session = make_session(discounts=[{"coupon": "SPRING"}])
    with httpx.Client() as browser:
        page = browser.get(session.url).text
    assert 'id="subtotal">£10.00' in page
    assert "Spring offer (20% off)" in page
    assert 'id="discount">\u2212£2.00' in page
    assert 'id="total">£8.00' in page
    assert "Pay £8.00" in page


@pytest.mark.parametrize(
    ("coupon", "discounts", "param", "fragment"),
    [
        ({"id": "USD", "amount_off": 100, "currency": "usd"}, [{"coupon": "USD"}],
         "discounts[0][coupon]", "is in usd"),
        ({"id": "NEAR", "amount_off": 980, "currency": "gbp"}, [{"coupon": "NEAR"}],
         "line_items", "at least £0.30"),
        ({"id": "A", "percent_off": "5"}, [{"coupon": "A"}, {"coupon": "A"}],
         "discounts", "at most one discount"),
        ({"id": "B", "percent_off": "5"}, [{"promotion_code": "promo_1"}],
         "discounts[0][promotion_code]", "not promotion codes"),
        ({"id": "C", "percent_off": "5"}, [{"coupon": ""}], "discounts[0][coupon]",
         "Missing required"),
    ],
)  # fmt: skip
def test_a_discount_stripe_would_refuse_is_refused(
    stripe_client: stripe.StripeClient,
    make_session: Callable[..., Any],
    coupon: dict[str, Any],
    discounts: list[dict[str, Any]],
    param: str,
    fragment: str,
) -> None:
    stripe_client.v1.coupons.create(params=coupon)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        make_session(discounts=discounts)
    assert (refused.value.http_status, refused.value.param) == (400, param)
    assert fragment in refused.value.user_message
    assert stripe_client.v1.checkout.sessions.list().data == []


def test_used_up_expired_and_deleted_coupons_no_longer_apply(
    stripe_client: stripe.StripeClient, emulator: EmulatorServer, make_session: Callable[..., Any]
) -> None:
    stripe_client.v1.coupons.create(params={"id": "ONE", "percent_off": "10",
                                            "max_redemptions": 1})  # fmt: skip
    first = make_session(discounts=[{"coupon": "ONE"}])
    second = make_session(discounts=[{"coupon": "ONE"}])  # not yet redeemed: still valid
    emulator.pay(first.id)
    assert stripe_client.v1.coupons.retrieve("ONE").valid is False
    with pytest.raises(stripe.InvalidRequestError, match="no longer valid"):
        make_session(discounts=[{"coupon": "ONE"}])
    emulator.pay(second.id)  # a session that has it keeps it
    assert stripe_client.v1.checkout.sessions.retrieve(second.id).amount_total == 900

    now = emulator.advance_clock(0)["now"]
    stripe_client.v1.coupons.create(params={"id": "SOON", "percent_off": "10",
                                            "redeem_by": now + 3600})  # fmt: skip
    make_session(discounts=[{"coupon": "SOON"}])
    emulator.advance_clock(3601)
    assert stripe_client.v1.coupons.retrieve("SOON").valid is False
    with pytest.raises(stripe.InvalidRequestError, match="no longer valid"):
        make_session(discounts=[{"coupon": "SOON"}])

    stripe_client.v1.coupons.create(params={"id": "GONE", "percent_off": "10"})
    kept = make_session(discounts=[{"coupon": "GONE"}])
    stripe_client.v1.coupons.delete("GONE")
    with pytest.raises(stripe.InvalidRequestError, match="No such coupon: 'GONE'"):
        make_session(discounts=[{"coupon": "GONE"}])
    emulator.pay(kept.id)
    assert stripe_client.v1.checkout.sessions.retrieve(kept.id).amount_total == 900


def test_discounts_and_promotion_codes_do_not_mix_and_setup_mode_has_none(
    stripe_client: stripe.StripeClient, emulator: EmulatorServer, make_session: Callable[..., Any]
) -> None:
    stripe_client.v1.coupons.create(params={"id": "TEN", "percent_off": "10"})
    with pytest.raises(stripe.InvalidRequestError, match="only specify one of"):
        make_session(discounts=[{"coupon": "TEN"}], allow_promotion_codes=True)
    with pytest.raises(stripe.InvalidRequestError, match="in `setup` mode"):
        stripe_client.v1.checkout.sessions.create(
            params={"mode": "setup", "currency": "gbp", "discounts": [{"coupon": "TEN"}],
                    "success_url": "https://app.example/ok"}
        )  # fmt: skip
    assert stripe_client.v1.checkout.sessions.list().data == []
    assert event_types(emulator, "setup_intent", "checkout") == []
