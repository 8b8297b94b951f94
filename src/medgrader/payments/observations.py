"""What Stripe says about a refund or a dispute, read off its object into plain values.

Both the webhook (from a freshly retrieved object) and the admin refund (from the refund Stripe
just created) hand these to `payments.returns.apply_returns`. Status orders make observations
commutative: an observation never moves a refund or dispute back to an earlier state, so two
handlers that fetched at different moments and commit in the other order still end at the
newer state.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# A refund only moves forward: requires_action -> pending -> succeeded -> failed, and pending
# or requires_action -> canceled. (Which count as returned: payments.rules.)
REFUND_STATUS_RANK = {
    "requires_action": 0,
    "pending": 1,
    "succeeded": 2,
    "failed": 3,
    "canceled": 3,
}

# A dispute: inquiries (warning_*) may escalate to a chargeback; won and lost are final.
DISPUTE_STATUS_RANK = {
    "warning_needs_response": 0,
    "warning_under_review": 1,
    "warning_closed": 2,
    "needs_response": 3,
    "under_review": 4,
    "won": 5,
    "lost": 5,
}

# Where an admin refund records who asked for it (read back whichever path records it first).
ADMIN_METADATA_KEY = "medgrader_admin_id"
NOTE_METADATA_KEY = "medgrader_note"


class MalformedStripeObject(ValueError):
    """A refund or dispute without the fields every Stripe object of its kind has."""


def _required(obj: dict[str, Any], key: str, kind: type) -> Any:
    value = obj.get(key)
    # bool is an int in Python: a JSON true is not an amount.
    if not isinstance(value, kind) or isinstance(value, bool):
        raise MalformedStripeObject(f"{obj.get('object', 'object')}.{key}")
    return value


def _expandable_id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _created(obj: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(_required(obj, "created", int), UTC)


def _admin_id(metadata: Any) -> uuid.UUID | None:
    raw = metadata.get(ADMIN_METADATA_KEY) if isinstance(metadata, dict) else None
    try:
        return uuid.UUID(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


@dataclass(frozen=True)
class RefundSeen:
    stripe_id: str
    amount: int
    currency: str
    status: str
    reason: str | None
    failure_reason: str | None
    created: datetime
    payment_intent: str | None
    charge: str | None
    note: str | None
    admin_id: uuid.UUID | None

    @classmethod
    def of(cls, obj: dict[str, Any]) -> RefundSeen:
        amount = _required(obj, "amount", int)
        status = _required(obj, "status", str)
        if amount <= 0 or status not in REFUND_STATUS_RANK:
            raise MalformedStripeObject(f"refund amount {amount!r} / status {status!r}")
        metadata = obj.get("metadata")
        note = metadata.get(NOTE_METADATA_KEY) if isinstance(metadata, dict) else None
        return cls(
            stripe_id=_required(obj, "id", str),
            amount=amount,
            currency=_required(obj, "currency", str).upper(),
            status=status,
            reason=obj.get("reason") if isinstance(obj.get("reason"), str) else None,
            failure_reason=obj.get("failure_reason")
            if isinstance(obj.get("failure_reason"), str)
            else None,
            created=_created(obj),
            payment_intent=_expandable_id(obj.get("payment_intent")),
            charge=_expandable_id(obj.get("charge")),
            note=note[:500] if isinstance(note, str) else None,
            admin_id=_admin_id(metadata),
        )


def withdrawn_amount(balance_transactions: Any) -> tuple[int, int]:
    """(funds withdrawn and not reinstated, how many balance transactions): a withdrawal is a
    negative amount, a reinstatement a positive one (fees are separate)."""
    if not isinstance(balance_transactions, list):
        return 0, 0
    net = 0
    for transaction in balance_transactions:
        amount = transaction.get("amount") if isinstance(transaction, dict) else None
        if isinstance(amount, int) and not isinstance(amount, bool):
            net += amount
    return max(0, -net), len(balance_transactions)


@dataclass(frozen=True)
class DisputeSeen:
    stripe_id: str
    amount: int
    currency: str
    status: str
    reason: str | None
    created: datetime
    payment_intent: str | None
    charge: str | None
    funds_withdrawn: int
    balance_transaction_count: int

    @classmethod
    def of(cls, obj: dict[str, Any]) -> DisputeSeen:
        amount = _required(obj, "amount", int)
        if amount <= 0:
            raise MalformedStripeObject(f"dispute amount {amount!r}")
        withdrawn, count = withdrawn_amount(obj.get("balance_transactions"))
        return cls(
            stripe_id=_required(obj, "id", str),
            amount=amount,
            currency=_required(obj, "currency", str).upper(),
            status=_required(obj, "status", str),
            reason=obj.get("reason") if isinstance(obj.get("reason"), str) else None,
            created=_created(obj),
            payment_intent=_expandable_id(obj.get("payment_intent")),
            charge=_expandable_id(obj.get("charge")),
            funds_withdrawn=min(withdrawn, amount),
            balance_transaction_count=count,
        )


Observation = RefundSeen | DisputeSeen


def in_applying_order(observations: list[Observation]) -> list[Observation]:
    """Oldest first, refunds before disputes created in the same second: each refund's share
    of the clawback then follows the order Stripe made them in."""
    return sorted(
        observations,
        key=lambda o: (o.created, isinstance(o, DisputeSeen), o.stripe_id),
    )
