"""The rollover rule, written once for the lot expiry job to call (credit lots, issue 17, are
not on main yet: nothing calls this today; the lead wires it at merge).

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
