"""The refusals of saved cards and automatic top-up (their statuses: core.statuses)."""

from __future__ import annotations

from medgrader.core.errors import Conflict, NotFound, Unprocessable


class NoSavedCard(Conflict):
    code, message = "no_saved_card", "Save a card before turning automatic top-up on."


class PaymentMethodNotFound(NotFound):
    code, message = "payment_method_not_found", "No such saved card."


class TopUpAttemptNotFound(NotFound):
    code, message = "top_up_attempt_not_found", "No such top-up attempt."


class TopUpPackageInactive(Unprocessable):
    code, message = "top_up_package_inactive", "This credit package is not on sale."


class MonthlyLimitBelowPrice(Unprocessable):
    code, message = (
        "monthly_limit_below_price",
        "The monthly limit must be at least the package's price.",
    )


class TopUpNotRecoverable(Conflict):
    code, message = (
        "top_up_not_recoverable",
        "This top-up cannot be completed from here any more; buy credits from the wallet.",
    )
