"""The refusals of admin credit adjustments (their statuses: core.statuses)."""

from __future__ import annotations

from medgrader.core.errors import Refusal


class AdjustmentExceedsBalance(Refusal):
    """A negative adjustment that the available balance does not cover: an adjustment never
    takes a balance below zero (only a refund or dispute clawback may)."""

    code, message = (
        "adjustment_exceeds_balance",
        "The student's balance does not cover this negative adjustment.",
    )
