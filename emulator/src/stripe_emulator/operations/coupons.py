"""Coupons: create, retrieve, update, delete, list (``coupon.created|updated|deleted``).

A coupon takes ``percent_off`` (more than 0, at most 100, two decimals at most) or
``amount_off`` with its ``currency``, never both. ``valid`` is false once ``redeem_by`` has
passed or ``max_redemptions`` completed sessions used it; a deleted coupon is gone for new
sessions and stays on the ones that already have it, as on Stripe.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from stripe_emulator.core import Emulator, RequestContext
from stripe_emulator.errors import StripeError, invalid_param, missing_param, no_such
from stripe_emulator.lists import created_matcher
from stripe_emulator.money import SUPPORTED
from stripe_emulator.objects.coupon import build_coupon
from stripe_emulator.params import (
    as_enum,
    as_int,
    as_metadata,
    as_str,
    opt_str,
    reject_unknown,
    updated_metadata,
)
from stripe_emulator.store import StripeObject

CREATE_PARAMS = {
    "amount_off", "applies_to", "currency", "currency_options", "duration",
    "duration_in_months", "expand", "id", "max_redemptions", "metadata", "name", "percent_off",
    "redeem_by",
}  # fmt: skip
UPDATE_PARAMS = {"currency_options", "expand", "metadata", "name"}
LIST_PARAMS = {"created", "ending_before", "expand", "limit", "starting_after"}
DURATIONS = {"forever", "once", "repeating"}
_NOT_EMULATED = ("applies_to", "currency_options")


def _percent(raw: Any) -> Decimal:
    try:
        value = Decimal(as_str(raw, "percent_off").strip())
    except InvalidOperation:
        raise invalid_param("percent_off", f"Invalid decimal: {raw}") from None
    if not value.is_finite() or not Decimal(0) < value <= Decimal(100):
        raise invalid_param("percent_off", "percent_off must be greater than 0 and at most 100.")
    if value != value.quantize(Decimal("0.01")):
        raise invalid_param("percent_off", "percent_off can have at most two decimal places.")
    return value


def coupon_percent(coupon: StripeObject) -> Decimal:
    """``percent_off`` as the exact decimal it was given (the JSON float rounds nothing
    with two decimals, so ``str`` gives it back)."""
    return Decimal(str(coupon["percent_off"]))


def refresh_validity(emu: Emulator, coupon: StripeObject) -> StripeObject:
    expired = coupon["redeem_by"] is not None and emu.now() > coupon["redeem_by"]
    limit = coupon["max_redemptions"]
    used_up = limit is not None and coupon["times_redeemed"] >= limit
    coupon["valid"] = not (expired or used_up)
    return coupon


def get_coupon(emu: Emulator, coupon_id: str, param: str | None = None) -> StripeObject:
    coupon = emu.store.coupons.get(coupon_id)
    if coupon is None:
        raise no_such("coupon", coupon_id, param=param)
    return refresh_validity(emu, coupon)


def create_coupon(emu: Emulator, params: dict[str, Any], ctx: RequestContext) -> StripeObject:
    reject_unknown(params, CREATE_PARAMS)
    for key in _NOT_EMULATED:
        if params.get(key) not in (None, ""):
            raise invalid_param(key, f"The Stripe emulator does not support `{key}`.")
    has_percent = params.get("percent_off") not in (None, "")
    has_amount = params.get("amount_off") not in (None, "")
    if has_percent and has_amount:
        raise StripeError(
            "You may only specify one of these parameters: amount_off, percent_off.",
            param="amount_off",
        )
    if not has_percent and not has_amount:
        raise missing_param("percent_off")
    currency = opt_str(params.get("currency"), "currency")
    if has_amount and currency is None:
        raise missing_param("currency")
    if currency is not None:
        if not has_amount:
            raise invalid_param("currency", "`currency` goes with `amount_off` only.")
        currency = currency.lower()
        if currency not in SUPPORTED:
            raise invalid_param("currency", f"Invalid currency: {currency}.")
    duration = as_enum(params.get("duration") or "once", "duration", DURATIONS)
    months = params.get("duration_in_months")
    if duration == "repeating" and months in (None, ""):
        raise missing_param("duration_in_months")
    if duration != "repeating" and months not in (None, ""):
        raise invalid_param(
            "duration_in_months", "duration_in_months goes with duration=repeating only."
        )
    redeem_by = params.get("redeem_by")
    if redeem_by not in (None, ""):
        redeem_by = as_int(redeem_by, "redeem_by")
        if redeem_by <= emu.now():
            raise invalid_param("redeem_by", "redeem_by must be in the future.")
    coupon_id = opt_str(params.get("id"), "id", max_length=200)
    if coupon_id is not None and coupon_id in emu.store.coupons:
        raise StripeError("Coupon already exists.", code="resource_already_exists", param="id")
    coupon = build_coupon(
        created=emu.now(),
        coupon_id=coupon_id,
        percent_off=_percent(params["percent_off"]) if has_percent else None,
        amount_off=as_int(params["amount_off"], "amount_off", minimum=1) if has_amount else None,
        currency=currency,
        duration=duration,
        duration_in_months=as_int(months, "duration_in_months", minimum=1)
        if duration == "repeating"
        else None,
        max_redemptions=as_int(params["max_redemptions"], "max_redemptions", minimum=1)
        if params.get("max_redemptions") not in (None, "")
        else None,
        redeem_by=redeem_by or None,
        name=opt_str(params.get("name"), "name", max_length=40),
        metadata=as_metadata(params.get("metadata", {})),
    )
    emu.store.add(coupon)
    emu.emit("coupon.created", coupon, ctx)
    return coupon


def update_coupon(
    emu: Emulator, coupon_id: str, params: dict[str, Any], ctx: RequestContext
) -> StripeObject:
    reject_unknown(params, UPDATE_PARAMS)
    coupon = get_coupon(emu, coupon_id)
    if params.get("currency_options") not in (None, ""):
        raise invalid_param("currency_options", "The Stripe emulator does not support it.")
    changes: dict[str, Any] = {}
    if "name" in params:
        changes["name"] = opt_str(params["name"], "name", max_length=40)
    if "metadata" in params:
        changes["metadata"] = updated_metadata(coupon["metadata"], params["metadata"])
    return emu.update(coupon, changes, "coupon.updated", ctx)


def delete_coupon(emu: Emulator, coupon_id: str, ctx: RequestContext) -> StripeObject:
    coupon = get_coupon(emu, coupon_id)
    emu.emit("coupon.deleted", coupon, ctx)
    del emu.store.coupons[coupon_id]
    return {"id": coupon_id, "object": "coupon", "deleted": True}


def list_coupons(emu: Emulator, params: dict[str, Any]) -> list[StripeObject]:
    reject_unknown(params, LIST_PARAMS)
    created = created_matcher(params.get("created"))
    return [refresh_validity(emu, c) for c in emu.store.coupons.values() if created(c["created"])]


def redeem(emu: Emulator, coupon_id: str) -> None:
    """A completed session used the coupon (a deleted one is no longer counted)."""
    coupon = emu.store.coupons.get(coupon_id)
    if coupon is not None:
        coupon["times_redeemed"] += 1
        refresh_validity(emu, coupon)
