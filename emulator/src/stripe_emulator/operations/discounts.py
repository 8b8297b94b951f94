"""A coupon on a Checkout Session (``discounts[0][coupon]``): what it takes off, and where
Stripe shows it.

Amounts are integer minor units throughout; a percentage is applied to each line item's
subtotal as an exact decimal and rounded half up, an ``amount_off`` (at most the subtotal)
is shared among the line items in proportion to their subtotals, the remainder of the
division going to the largest fractions. So ``amount_total = amount_subtotal -
total_details.amount_discount`` and each line item's ``amount_discount`` adds up to it.

Where it shows, as on Stripe: ``discounts`` (``[{coupon, promotion_code}]``),
``amount_subtotal`` / ``amount_total``, ``total_details.amount_discount`` on the session;
``amount_discount`` on each line item; the ``discount`` objects themselves only in the
includable ``total_details.breakdown`` and line items' ``discounts`` (``expand[]``). The
coupon's ``times_redeemed`` counts completed sessions.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from stripe_emulator.core import Emulator
from stripe_emulator.errors import invalid_param
from stripe_emulator.objects.coupon import build_discount
from stripe_emulator.operations import coupons
from stripe_emulator.params import as_dict, as_list, as_str, exclusive, reject_unknown, require
from stripe_emulator.store import Store, StripeObject


def coupon_for(emu: Emulator, params: dict[str, Any], currency: str) -> StripeObject | None:
    """The coupon named by ``discounts`` (None without one), checked as Stripe checks it."""
    exclusive(params, "allow_promotion_codes", "discounts")
    entries = as_list(params.get("discounts") or [], "discounts")
    if not entries:
        return None
    if len(entries) > 1:
        raise invalid_param("discounts", "A Checkout Session takes at most one discount.")
    p = "discounts[0]"
    entry = as_dict(entries[0], p)
    reject_unknown(entry, {"coupon", "promotion_code"}, p)
    if entry.get("promotion_code") not in (None, ""):
        raise invalid_param(
            f"{p}[promotion_code]", "The Stripe emulator supports coupons, not promotion codes."
        )
    coupon_id = as_str(require(entry, "coupon", f"{p}[coupon]"), f"{p}[coupon]")
    coupon = coupons.get_coupon(emu, coupon_id, param=f"{p}[coupon]")
    if not coupon["valid"]:
        raise invalid_param(f"{p}[coupon]", f"Coupon '{coupon_id}' is no longer valid.")
    if coupon["amount_off"] is not None and coupon["currency"] != currency:
        raise invalid_param(
            f"{p}[coupon]",
            f"Coupon '{coupon_id}' is in {coupon['currency']}, but this Checkout Session is "
            f"in {currency}.",
        )
    return coupon


def discount_amounts(coupon: StripeObject | None, subtotals: list[int]) -> list[int]:
    """What the coupon takes off each line item (their subtotals, in order)."""
    if coupon is None:
        return [0] * len(subtotals)
    if coupon["percent_off"] is not None:
        share = coupons.coupon_percent(coupon) / 100
        return [
            int((Decimal(s) * share).quantize(Decimal(1), rounding=ROUND_HALF_UP))
            for s in subtotals
        ]
    total = sum(subtotals)
    off = min(int(coupon["amount_off"]), total)
    if total == 0:
        return [0] * len(subtotals)
    shares = [divmod(off * s, total) for s in subtotals]
    amounts = [whole for whole, _ in shares]
    by_fraction = sorted(range(len(shares)), key=lambda i: -shares[i][1])
    for i in by_fraction[: off - sum(amounts)]:
        amounts[i] += 1
    return amounts


def apply(
    emu: Emulator,
    session: StripeObject,
    items: list[StripeObject],
    coupon: StripeObject | None,
    amounts: list[int],
) -> None:
    """Record the discount on the session and its line items (a new session)."""
    subtotal = sum(item["amount_subtotal"] for item in items)
    off = sum(amounts)
    session.update(amount_subtotal=subtotal, amount_total=subtotal - off)
    session["total_details"]["amount_discount"] = off
    if coupon is None:
        return
    discount = build_discount(
        start=session["created"],
        coupon_id=coupon["id"],
        checkout_session=session["id"],
        customer=session["customer"],
    )
    session["discounts"] = [{"coupon": coupon["id"], "promotion_code": None}]
    emu.store.private[session["id"]]["discount"] = {"amount": off, "discount": discount}
    for item, amount in zip(items, amounts, strict=True):
        item.update(amount_discount=amount, amount_total=item["amount_subtotal"] - amount)
        emu.store.private[item["id"]] = {"discounts": [{"amount": amount, "discount": discount}]}


def redeem(emu: Emulator, session: StripeObject) -> None:
    """The session completed: its coupon was used once more."""
    for entry in session["discounts"] or []:
        if entry.get("coupon"):
            coupons.redeem(emu, entry["coupon"])


def breakdown(store: Store, session: StripeObject) -> dict[str, Any]:
    """``total_details.breakdown`` (includable): the discounts and taxes, aggregated."""
    applied = store.private.get(session["id"], {}).get("discount")
    return {"discounts": [applied] if applied else [], "taxes": []}


def line_item_discounts(store: Store, item: StripeObject) -> list[dict[str, Any]]:
    """A line item's ``discounts`` (includable)."""
    return list(store.private.get(item["id"], {}).get("discounts", []))


def is_free(session: StripeObject) -> bool:
    """A payment session a discount brought to zero: completed without paying."""
    return session["mode"] == "payment" and session["amount_total"] == 0
