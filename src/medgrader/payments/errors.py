"""The refusals of payments and refunds (their statuses: core.statuses)."""

from __future__ import annotations

from medgrader.core.errors import NotFound, Refusal


class PaymentNotFound(NotFound):
    code, message = "payment_not_found", "No such payment."


class PaymentDisputed(Refusal):
    code, message = "payment_disputed", "This payment is disputed; it cannot be refunded."


class AmountNotRefundable(Refusal):
    """More than is left to refund (`refundableAmount`, pence, when known)."""

    code, message = "amount_not_refundable", "This amount cannot be refunded."


class CreditsAlreadySpent(Refusal):
    """Taking the credits back would leave the balance below zero (the admin may confirm with
    allowNegativeBalance); `refundableWithoutNegativeBalance` says how much can be refunded
    without."""

    code, message = "credits_already_spent", "The student has spent some of these credits."


class PaymentNotRefundable(Refusal):
    code, message = "payment_not_refundable", "Stripe holds no payment to refund."
