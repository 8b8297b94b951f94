"""The rollover rule as the tests state it (subscriptions.rules; the writer is lots_rollover,
migration 0018): up to rolloverMaxCredits move on, with their value share by invariant 11."""

from __future__ import annotations

import pytest

from medgrader.subscriptions.rules import rollover


def test_up_to_the_cap_moves_on_and_the_rest_expires() -> None:
    moved = rollover(lot_credits=500, lot_value_pence=1500, remaining=300,
                     rollover_max_credits=100, renews=True)  # fmt: skip
    assert (moved.credits, moved.expiring) == (100, 200)
    # 200 gone before: floor(1500 * 300 / 500) - floor(1500 * 200 / 500) = 900 - 600.
    assert moved.value_pence == 300


def test_less_left_than_the_cap_moves_all_of_it() -> None:
    moved = rollover(lot_credits=3, lot_value_pence=1000, remaining=2,
                     rollover_max_credits=10, renews=True)  # fmt: skip
    assert (moved.credits, moved.expiring) == (2, 0)
    assert moved.value_pence == 1000 - 1000 // 3  # what the lot still held, to the penny


def test_a_subscription_that_does_not_renew_rolls_nothing_over() -> None:
    moved = rollover(lot_credits=500, lot_value_pence=1500, remaining=300,
                     rollover_max_credits=100, renews=False)  # fmt: skip
    assert (moved.credits, moved.value_pence, moved.expiring) == (0, 0, 300)


def test_the_value_shares_add_up_to_the_lot() -> None:
    # Whatever leaves and however the rest moves on, the shares sum to what was left.
    for gone in range(0, 8):
        remaining = 7 - gone
        moved = rollover(lot_credits=7, lot_value_pence=1000, remaining=remaining,
                         rollover_max_credits=remaining, renews=True)  # fmt: skip
        assert moved.value_pence == 1000 - (1000 * gone) // 7


def test_nonsense_is_refused() -> None:
    with pytest.raises(ValueError, match="remaining"):
        rollover(lot_credits=5, lot_value_pence=1, remaining=6, rollover_max_credits=1,
                 renews=True)  # fmt: skip
