"""Two rules about money going back, each written once as an SQL predicate that every query
uses (the returns totals, the refund's checks, the figures, the audit); Python reads their
results and never tests the statuses itself.

- A refund counts as money returned while Stripe has it pending or succeeded (invariant 8's R,
  as Stripe's own charge.amount_refunded counts it).
- A dispute is open while it is an inquiry or a chargeback still being decided
  (warning_needs_response, warning_under_review, needs_response, under_review). Won, lost and
  a closed inquiry are final: a lost dispute is not open, its withdrawn funds are returned
  money by invariant 8 (the payment is then DISPUTE_LOST). The admin refund's own refusal
  (payment_disputed) is for an open dispute or a lost one (payments.refunds), built on this.
"""

from __future__ import annotations

from medgrader.models.base import one_of

COUNTED_REFUND_STATUSES = ("pending", "succeeded")
OPEN_DISPUTE_STATUSES = (
    "warning_needs_response",
    "warning_under_review",
    "needs_response",
    "under_review",
)
LOST = "lost"


def counted_refund(status: str = "status") -> str:
    """True for a refund (status column `status`) whose money counts as returned."""
    return f"({one_of(status, COUNTED_REFUND_STATUSES)})"


def open_dispute(status: str = "status") -> str:
    """True for a dispute (status column `status`) that is still open."""
    return f"({one_of(status, OPEN_DISPUTE_STATUSES)})"
