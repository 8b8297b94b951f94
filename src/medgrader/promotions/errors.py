"""The refusals of promotions: managing them, and using a code (statuses: core.statuses)."""

from __future__ import annotations

from medgrader.core.errors import Conflict, NotFound, Refusal


class PromotionCodeTaken(Conflict):
    code, message = "promotion_code_taken", "Another promotion already has this code."


class AutoApplyTaken(Conflict):
    code, message = (
        "promotion_auto_apply_taken",
        "Another active promotion is already applied automatically; deactivate it first.",
    )


class LimitBelowUses(Conflict):
    code, message = (
        "promotion_limit_below_uses",
        "maxRedemptions cannot be set below the redemptions made or reserved.",
    )


class NoSuchPromotion(NotFound):
    """The back office names a promotion by id that does not exist."""

    code, message = "no_such_promotion", "No such promotion."


# Using a code: each a 422, and nothing written. Refusals, so that an idempotent redemption
# stores and replays them.
class PromotionNotFound(Refusal):
    code, message = "promotion_not_found", "This code is unknown, inactive or not valid now."


class PromotionNotApplicable(Refusal):
    code, message = "promotion_not_applicable", "This code does not apply to this purchase."


class PromotionExhausted(Refusal):
    code, message = "promotion_exhausted", "This code has been used as many times as it may be."


class PromotionAlreadyUsed(Refusal):
    code, message = "promotion_already_used", "You have already used this code."


class FirstPurchaseOnly(Refusal):
    code, message = "first_purchase_only", "This code is for a first purchase only."
