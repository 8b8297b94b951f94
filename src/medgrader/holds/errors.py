"""The refusals of hold operations (their statuses: core.statuses). A hold that the available
balance does not cover is credits.errors.InsufficientCredits, as for a spend."""

from __future__ import annotations

from medgrader.core.errors import NotFound, Refusal


class HoldNotFound(NotFound):
    code, message = "hold_not_found", "No such hold."


class HoldExpired(Refusal):
    code, message = "hold_expired", "This hold has expired; its credits were released."


class HoldClosed(Refusal):
    code, message = "hold_closed", "This hold was already captured or released."


class AmountExceedsHold(Refusal):
    code, message = "amount_exceeds_hold", "amount: must not be more than the held amount."


class HoldTooLarge(Refusal):
    code, message = (
        "hold_too_large",
        "additionalAmount: the hold would be larger than one charge may be.",
    )


class TooManyHolds(Refusal):
    code, message = (
        "too_many_holds",
        "You already have the most live sessions that may hold credits at once; end one first.",
    )


class HoldLifetimeExceeded(Refusal):
    code, message = (
        "hold_lifetime_exceeded",
        "A hold cannot last that long from its creation; capture this one and start another.",
    )
