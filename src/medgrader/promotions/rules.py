"""What a promotion does to a purchase, in integers, written once: the checkout, its preview
and fulfilment's cross-check all use `quote`; when promotion credits expire, `credits_expire_at`.

- A percentage discount is the price times the percentage, rounded half up to the penny (as
  Stripe rounds a percent_off coupon); an amount discount is at most the price.
- What is left to pay is 0 (Stripe completes the session with no_payment_required) or at least
  Stripe's smallest charge; anything in between cannot be paid: not applicable.
- Bonus credits: a fixed number, or the package's credits times the percentage, rounded down.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from medgrader.promotions.errors import PromotionNotApplicable, PromotionNotFound

# Stripe's smallest GBP charge (the catalogue's floor too: catalog.schemas.MIN_PRICE_PENCE).
MIN_CHARGE_PENCE = 30


@dataclass(frozen=True)
class Quote:
    original_amount: int  # the package's price, minor units
    discount: int
    amount: int  # what will be charged
    credits: int  # the package's
    bonus_credits: int


def normalise(code: str) -> str:
    return code.strip().upper()


def is_credit_code(promotion: Any) -> bool:
    return promotion.grant_credits is not None


def check_current(promotion: Any, now: datetime) -> None:
    """Active and within its dates, or it is not found (to students, an unknown code)."""
    if not promotion.active:
        raise PromotionNotFound()
    if promotion.starts_at is not None and now < promotion.starts_at:
        raise PromotionNotFound()
    if promotion.ends_at is not None and now >= promotion.ends_at:
        raise PromotionNotFound()


def quote(promotion: Any, *, package_id: uuid.UUID, price: int, credits: int) -> Quote:
    """The figures of buying this package with this promotion (raises when it does not apply)."""
    if is_credit_code(promotion):
        raise PromotionNotApplicable("This is a credit code: redeem it on the wallet instead.")
    if promotion.package_ids is not None and package_id not in promotion.package_ids:
        raise PromotionNotApplicable("This code does not apply to this package.")
    if promotion.min_amount_pence is not None and price < promotion.min_amount_pence:
        raise PromotionNotApplicable("This package is below the code's minimum amount.")
    if promotion.discount_percent is not None:
        discount = (price * promotion.discount_percent + 50) // 100
    elif promotion.discount_amount_pence is not None:
        discount = min(price, promotion.discount_amount_pence)
    else:
        discount = 0
    amount = price - discount
    if 0 < amount < MIN_CHARGE_PENCE:
        raise PromotionNotApplicable("The discounted price would be below the smallest charge.")
    if promotion.bonus_credits is not None:
        bonus = promotion.bonus_credits
    elif promotion.bonus_credits_percent is not None:
        bonus = credits * promotion.bonus_credits_percent // 100
    else:
        bonus = 0
    return Quote(
        original_amount=price, discount=discount, amount=amount, credits=credits,
        bonus_credits=bonus,
    )  # fmt: skip


def credits_expire_at(expire_days: int | None, granted_at: datetime) -> datetime | None:
    """When bonus or code credits granted at `granted_at` expire (None: never)."""
    return None if expire_days is None else granted_at + timedelta(days=expire_days)
