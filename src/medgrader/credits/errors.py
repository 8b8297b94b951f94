"""The refusals of spending credits (their statuses: core.statuses)."""

from __future__ import annotations

from medgrader.core.errors import Refusal


class InsufficientCredits(Refusal):
    """The available balance (balance minus active holds) does not cover it, or is negative
    after a clawback. The same answer for a spend and for a hold."""

    code, message = "insufficient_credits", "Not enough credits for this."
