"""Products and recurring Prices through the official SDK, over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from emulator_support import event_types
from stripe_emulator.testing import EmulatorServer


def _monthly(client: stripe.StripeClient, product: str, amount: int = 1500, **extra: Any) -> Any:
    params = {"product": product, "currency": "gbp", "unit_amount": amount,
              "recurring": {"interval": "month"}, **extra}  # fmt: skip
    return client.v1.prices.create(params=params)


def test_a_product_and_its_monthly_price(
    stripe_client: stripe.StripeClient, emulator: EmulatorServer
) -> None:
    product = stripe_client.v1.products.create(
        params={
            "name": "500 credits a month",
            "description": "Monthly plan",
            "metadata": {"plan_id": "7"},
        }
    )
    assert product.id.startswith("prod_")
    assert (product.active, product.type, product.default_price) == (True, "service", None)
    price = _monthly(stripe_client, product.id, nickname="monthly")
    assert price.id.startswith("price_")
    assert (price.type, price.unit_amount, str(price.unit_amount_decimal)) == (
        "recurring",
        1500,
        "1500",
    )
    assert price.recurring.to_dict() == {
        "interval": "month",
        "interval_count": 1,
        "meter": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }
    assert stripe_client.v1.prices.retrieve(price.id).product == product.id
    expanded = stripe_client.v1.prices.retrieve(price.id, params={"expand": ["product"]})
    assert expanded.product.name == "500 credits a month"

    updated = stripe_client.v1.products.update(
        product.id, params={"default_price": price.id, "name": "Monthly"}
    )
    assert (updated.default_price, updated.name) == (price.id, "Monthly")
    archived = stripe_client.v1.prices.update(price.id, params={"active": False})
    assert archived.active is False
    assert event_types(emulator, "product.", "price.") == [
        "product.created",
        "price.created",
        "product.updated",
        "price.updated",
    ]


def test_price_lists_filter_by_product_type_activity_and_lookup_key(
    stripe_client: stripe.StripeClient,
) -> None:
    plan = stripe_client.v1.products.create(params={"name": "Plan"})
    other = stripe_client.v1.products.create(params={"name": "Other"})
    monthly = _monthly(stripe_client, plan.id, lookup_key="plan-monthly")
    one_off = stripe_client.v1.prices.create(
        params={"product": plan.id, "currency": "gbp", "unit_amount": 900}
    )
    _monthly(stripe_client, other.id)

    def ids(**params: Any) -> list[str]:
        return [p.id for p in stripe_client.v1.prices.list(params=params).data]

    assert ids(product=plan.id) == [one_off.id, monthly.id]
    assert ids(product=plan.id, type="recurring") == [monthly.id]
    assert ids(lookup_keys=["plan-monthly"]) == [monthly.id]
    stripe_client.v1.prices.update(one_off.id, params={"active": False})
    assert ids(product=plan.id, active=True) == [monthly.id]
    assert one_off.type == "one_time"
    assert one_off.recurring is None


def test_a_lookup_key_moves_only_when_asked(stripe_client: stripe.StripeClient) -> None:
    plan = stripe_client.v1.products.create(params={"name": "Plan"})
    first = _monthly(stripe_client, plan.id, lookup_key="current")
    with pytest.raises(stripe.InvalidRequestError) as info:
        _monthly(stripe_client, plan.id, 2000, lookup_key="current")
    assert info.value.param == "lookup_key"
    second = _monthly(stripe_client, plan.id, 2000, lookup_key="current", transfer_lookup_key=True)
    assert second.lookup_key == "current"
    assert stripe_client.v1.prices.retrieve(first.id).lookup_key is None


def test_default_price_data_creates_the_price_with_the_product(
    stripe_client: stripe.StripeClient,
) -> None:
    product = stripe_client.v1.products.create(
        params={
            "name": "Yearly",
            "default_price_data": {
                "currency": "gbp",
                "unit_amount": 15000,
                "recurring": {"interval": "year"},
            },
        }
    )
    price = stripe_client.v1.prices.retrieve(product.default_price)
    assert (price.product, price.recurring.interval, price.unit_amount) == (
        product.id,
        "year",
        15000,
    )


@pytest.mark.parametrize(
    ("params", "param", "fragment"),
    [
        ({"unit_amount": 100, "recurring": {"interval": "month"}}, "currency", "Missing"),
        ({"currency": "gbp", "recurring": {"interval": "month"}}, "unit_amount", "Missing"),
        ({"currency": "gbp", "unit_amount": 1, "recurring": {"interval": "fortnight"}},
         "recurring[interval]", "must be one of"),
        ({"currency": "gbp", "unit_amount": 1,
          "recurring": {"interval": "month", "interval_count": 37}},
         "recurring[interval_count]", "three years"),
        ({"currency": "gbp", "unit_amount": 1,
          "recurring": {"interval": "month", "usage_type": "metered"}},
         "recurring[usage_type]", "licensed"),
        ({"currency": "gbp", "unit_amount": 1, "tiers_mode": "graduated"}, "tiers_mode",
         "does not support"),
        ({"currency": "gbp", "unit_amount": -1}, "unit_amount", "greater than or equal to 0"),
    ],
)  # fmt: skip
def test_bad_prices_are_refused_naming_the_parameter(
    stripe_client: stripe.StripeClient, params: dict[str, Any], param: str, fragment: str
) -> None:
    plan = stripe_client.v1.products.create(params={"name": "Plan"})
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.prices.create(params={"product": plan.id, **params})
    assert (info.value.http_status, info.value.param) == (400, param)
    assert fragment in str(info.value.user_message)
    assert stripe_client.v1.prices.list().data == []


def test_missing_products_and_prices_are_404_or_named(stripe_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.prices.create(
            params={"product": "prod_missing", "currency": "gbp", "unit_amount": 100}
        )
    assert (info.value.http_status, info.value.param, info.value.code) == (
        400,
        "product",
        "resource_missing",
    )
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe_client.v1.prices.retrieve("price_missing")
    assert missing.value.http_status == 404


def test_a_product_with_prices_cannot_be_deleted(stripe_client: stripe.StripeClient) -> None:
    plan = stripe_client.v1.products.create(params={"name": "Plan"})
    _monthly(stripe_client, plan.id)
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.products.delete(plan.id)
    empty = stripe_client.v1.products.create(params={"name": "Empty"})
    assert stripe_client.v1.products.delete(empty.id).deleted is True
    assert [p.id for p in stripe_client.v1.products.list().data] == [plan.id]
