"""One refund or dispute Stripe returns in a shape we cannot read is skipped (and alerted),
never the reason the payment's other refunds and disputes go unapplied."""

from __future__ import annotations

from medgrader.payments.observations import DisputeSeen, RefundSeen
from medgrader.webhooks.returns import StripeNow, _observations

GOOD = {"id": "re_good", "object": "refund", "amount": 500, "currency": "gbp",
        "status": "succeeded", "created": 1_780_000_000, "payment_intent": "pi_1"}  # fmt: skip
ODD = dict(GOOD, id="re_odd", status="some_new_status")
DISPUTE = {"id": "du_1", "object": "dispute", "amount": 500, "currency": "gbp",
           "status": "needs_response", "created": 1_780_000_000, "payment_intent": "pi_1",
           "balance_transactions": [{"amount": -500}]}  # fmt: skip


def test_an_unreadable_item_is_skipped_and_the_rest_applied() -> None:
    now = StripeNow("pi_1", refunds=[ODD, GOOD], disputes=[DISPUTE, {"id": "du_bad"}])
    seen = _observations("refund.updated", ODD, now)
    assert [o.stripe_id for o in seen] == ["re_good", "du_1"]
    assert isinstance(seen[0], RefundSeen)
    assert isinstance(seen[1], DisputeSeen)
    assert seen[1].funds_withdrawn == 500
