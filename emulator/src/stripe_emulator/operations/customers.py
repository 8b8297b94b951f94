"""Customers: create, update, delete, list."""

from __future__ import annotations

from typing import Any

from stripe_emulator.core import Emulator, RequestContext
from stripe_emulator.errors import no_such
from stripe_emulator.lists import created_matcher
from stripe_emulator.objects.common import empty_address
from stripe_emulator.objects.customer import build_customer
from stripe_emulator.params import (
    as_dict,
    as_email,
    as_list,
    as_metadata,
    as_str,
    opt_str,
    reject_unknown,
    updated_metadata,
)
from stripe_emulator.store import StripeObject

CREATE_PARAMS = {
    "address", "balance", "business_name", "cash_balance", "description", "email", "expand",
    "individual_name", "invoice_prefix", "invoice_settings", "metadata", "name",
    "next_invoice_sequence", "payment_method", "phone", "preferred_locales", "shipping",
    "source", "tax", "tax_exempt", "tax_id_data", "test_clock", "validate",
}  # fmt: skip
UPDATE_PARAMS = (CREATE_PARAMS - {"payment_method", "tax_id_data", "test_clock"}) | {
    "default_source"
}
LIST_PARAMS = {"created", "email", "ending_before", "expand", "limit", "starting_after",
               "test_clock"}  # fmt: skip
_ADDRESS_KEYS = ("city", "country", "line1", "line2", "postal_code", "state")


def _address(value: Any) -> dict[str, Any] | None:
    data = as_dict(value, "address")
    if not data:
        return None
    reject_unknown(data, _ADDRESS_KEYS, "address")
    address = empty_address()
    for key, item in data.items():
        address[key] = opt_str(item, f"address[{key}]")
    return address


def _email(value: Any) -> str | None:
    return None if value in (None, "") else as_email(value, "email")


def get_customer(emu: Emulator, customer_id: str, param: str | None = None) -> StripeObject:
    customer = emu.store.customers.get(customer_id)
    if customer is None or customer.get("deleted"):
        raise no_such("customer", customer_id, param=param)
    return customer


def create_customer(emu: Emulator, params: dict[str, Any], ctx: RequestContext) -> StripeObject:
    reject_unknown(params, CREATE_PARAMS)
    clock_id = opt_str(params.get("test_clock"), "test_clock")
    created = emu.now()
    if clock_id:
        # A customer on a test clock, and everything it buys, lives at the clock's time.
        clock = emu.store.test_clocks.get(clock_id)
        if clock is None or clock.get("deleted"):
            raise no_such("test_helpers.test_clock", clock_id, param="test_clock")
        created = clock["frozen_time"]
    customer = build_customer(
        created=created,
        email=_email(params.get("email")),
        name=opt_str(params.get("name"), "name", max_length=256),
        description=opt_str(params.get("description"), "description"),
        phone=opt_str(params.get("phone"), "phone", max_length=20),
        metadata=as_metadata(params.get("metadata", {})),
        preferred_locales=[
            as_str(v, f"preferred_locales[{i}]")
            for i, v in enumerate(as_list(params.get("preferred_locales", []), "preferred_locales"))
        ],
        address=_address(params.get("address", "")),
    )
    customer["test_clock"] = clock_id
    emu.store.add(customer)
    emu.emit("customer.created", customer, ctx)
    return customer


def update_customer(
    emu: Emulator, customer_id: str, params: dict[str, Any], ctx: RequestContext
) -> StripeObject:
    customer = get_customer(emu, customer_id)
    reject_unknown(params, UPDATE_PARAMS)
    changes: dict[str, Any] = {}
    if "email" in params:
        changes["email"] = _email(params["email"])
    for key, limit in (("name", 256), ("description", 5000), ("phone", 20)):
        if key in params:
            changes[key] = opt_str(params[key], key, max_length=limit)
    if "metadata" in params:
        changes["metadata"] = updated_metadata(customer["metadata"], params["metadata"])
    if "address" in params:
        changes["address"] = _address(params["address"])
    return emu.update(customer, changes, "customer.updated", ctx)


def delete_customer(emu: Emulator, customer_id: str, ctx: RequestContext) -> StripeObject:
    customer = get_customer(emu, customer_id)
    emu.emit("customer.deleted", customer, ctx)
    # Stripe keeps answering for a deleted customer with this stub.
    stub = {"id": customer_id, "object": "customer", "deleted": True}
    emu.store.customers[customer_id] = stub
    return stub


def list_customers(emu: Emulator, params: dict[str, Any]) -> list[StripeObject]:
    reject_unknown(params, LIST_PARAMS)
    email = params.get("email")
    created = created_matcher(params.get("created"))
    return [
        c
        for c in emu.store.customers.values()
        if not c.get("deleted")
        and (email is None or c["email"] == as_str(email, "email"))
        and created(c["created"])
        and ("test_clock" not in params or c["test_clock"] == params["test_clock"])
    ]
