"""The rollover rule, stated in Python as the tests' independent check of the writer.

THE rule that moves credits is SQL: `lots_rollover`, called by `lots_settle` when it writes
down a lot's expiry (migration 0018, sql/0018_rollover.sql), under the student's balance row
lock, exactly once per lot. Nothing in the application calls this function: the tests compute
what the writer must have done with it, and the audit restates the rule in its own SQL
(subscriptions.audit, `rollover_follows_the_rule`). Keep the three in step.

When a period's PAID lot (C credits worth V pence) expires with `remaining` credits still in
it, and the subscription is ACTIVE and not set to cancel, up to `rolloverMaxCredits` of them
move into a new ROLLOVER lot that expires at the end of the next period; the rest expire.
The value that moves with them follows invariant 11 (value leaves a paid lot with its
credits, floor(V * n / C) once n of its C credits have left): with k = C - remaining credits
gone before, moving r more carries floor(V * (k + r) / C) - floor(V * k / C) pence.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rollover:
    credits: int  # into the ROLLOVER lot
    value_pence: int  # the value share carried over with them
    expiring: int  # what the expiry writes off from the period's lot


def rollover(
    *,
    lot_credits: int,
    lot_value_pence: int,
    remaining: int,
    rollover_max_credits: int,
    renews: bool,
) -> Rollover:
    """`renews`: the subscription is ACTIVE and not set to cancel at the period's end."""
    if not 0 <= remaining <= lot_credits or lot_credits <= 0:
        raise ValueError(f"remaining {remaining} of a lot of {lot_credits}")
    moved = min(remaining, max(rollover_max_credits, 0)) if renews else 0
    gone = lot_credits - remaining
    value = (lot_value_pence * (gone + moved)) // lot_credits - (
        lot_value_pence * gone
    ) // lot_credits
    return Rollover(credits=moved, value_pence=value, expiring=remaining - moved)
