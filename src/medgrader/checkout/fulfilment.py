"""Turning a paid Stripe Checkout Session into credits: ONE function for every path.

The webhook, the status endpoint (the success-page return) and reconciliation all call
`fulfill_checkout` inside their own transaction; nothing here commits. Exactly-once rests on
the database: our session row is locked (`FOR UPDATE`), so racing fulfilments of one session
queue up and the later ones find it COMPLETED; and should anything bypass the lock, the UNIQUE
indexes on the PURCHASE ledger entry (source_id), its idempotency key and the Payment
(stripe_checkout_session_id) make the second writer fail and roll back whole.

Our row is the authority on what a session buys. Stripe's session object only has to agree
with it (paid, same amount, same currency, same student and package); its metadata is never
used to decide how many credits to add.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Row

from medgrader.checkout import repository as sessions
from medgrader.core import metrics
from medgrader.db.session import Db
from medgrader.ledger import service as ledger
from medgrader.models.checkout import CheckoutStatus
from medgrader.models.ledger import SourceType
from medgrader.models.promotions import RedemptionStatus
from medgrader.notifications.receipts import enqueue_receipt
from medgrader.payments import repository as payments
from medgrader.promotions import grants
from medgrader.promotions import limits as promotion_limits

log = structlog.get_logger(__name__)

PAID_STATUSES = ("paid", "no_payment_required")


@dataclass(frozen=True)
class Outcome:
    """What handling concluded; stored on the webhook inbox row."""

    code: str
    credited: bool = False
    payment_id: uuid.UUID | None = None
    # False: the event stays unprocessed in the inbox (processed_at NULL) so that a later
    # delivery or a replay handles it again (e.g. a refund of a payment we do not know yet).
    processed: bool = True

    def __str__(self) -> str:
        return self.code


UNKNOWN_SESSION = Outcome("unknown_session")
ALREADY_COMPLETED = Outcome("already_completed")


def _mismatches(row: Row[Any], stripe_session: dict[str, Any], stripe_session_id: str) -> list[str]:
    problems = []
    if stripe_session.get("id") != stripe_session_id:
        problems.append(f"session id {stripe_session.get('id')!r} != {stripe_session_id!r}")
    amount_total = stripe_session.get("amount_total")
    # bool is an int in Python; a JSON true must not pass as 1 penny.
    if type(amount_total) is not int or amount_total != row.amount_pence:
        problems.append(f"amount_total {amount_total!r} != {row.amount_pence}")
    currency = stripe_session.get("currency")
    if not isinstance(currency, str) or currency.lower() != row.currency.lower():
        problems.append(f"currency {currency!r} != {row.currency.lower()!r}")
    reference = stripe_session.get("client_reference_id")
    if reference != str(row.student_id):
        problems.append(f"client_reference_id {reference!r} != {str(row.student_id)!r}")
    # Metadata only cross-checks the package (it never decides the credits). Stripe always
    # sends an object here; anything else is not the session we created: a mismatch.
    metadata = stripe_session.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        problems.append(f"metadata is a {type(metadata).__name__}, not an object")
    else:
        package_id = (metadata or {}).get("package_id")
        if package_id is not None and package_id != str(row.package_id):
            problems.append(f"metadata.package_id {package_id!r} != {str(row.package_id)!r}")
    return problems


def _discount_mismatches(
    row: Row[Any], redemption: Row[Any] | None, stripe_session: dict[str, Any]
) -> list[str]:
    """A discounted amount is accepted only as the promotion reserved for THIS session says:
    our reservation must exist and agree with our session row, and Stripe's breakdown must
    show exactly that discount on exactly the package's price."""
    if row.promotion_id is None:
        # No promotion: amount_total must be the full price (_mismatches), so no discount
        # can have been paid for; the breakdown adds nothing.
        return []
    problems = []
    details = stripe_session.get("total_details")
    stripe_discount = details.get("amount_discount") if isinstance(details, dict) else None
    if stripe_discount != row.discount_pence:
        problems.append(f"amount_discount {stripe_discount!r} != {row.discount_pence}")
    if redemption is None:
        return [*problems, "no promotion reserved for this session"]
    if redemption.promotion_id != row.promotion_id:
        problems.append("the reserved promotion is not the session's")
    if redemption.discount_pence != row.discount_pence:
        problems.append(f"reserved discount {redemption.discount_pence} != {row.discount_pence}")
    if redemption.original_amount_pence - redemption.discount_pence != row.amount_pence:
        problems.append("reserved price less discount != the session's amount")
    subtotal = stripe_session.get("amount_subtotal")
    if subtotal is not None and subtotal != redemption.original_amount_pence:
        problems.append(f"amount_subtotal {subtotal!r} != {redemption.original_amount_pence}")
    return problems


def _payment_intent_id(stripe_session: dict[str, Any]) -> str | None:
    intent = stripe_session.get("payment_intent")
    if isinstance(intent, dict):  # expanded
        intent = intent.get("id")
    return intent if isinstance(intent, str) else None


async def fulfill_checkout(
    db: Db,
    stripe_session_id: str,
    stripe_session: dict[str, Any],
) -> Outcome:
    """Credit a paid session exactly once, in the caller's transaction.

    `stripe_session` is Stripe's word on the session: a signed webhook's `data.object` or a
    freshly retrieved session. Returns what happened; raises only on database errors (the
    caller's transaction then rolls back whole).
    """
    outcome, credits = await _fulfil(db, stripe_session_id, stripe_session)
    metrics.FULFILMENTS.labels(outcome=metrics.outcome_label(outcome)).inc()
    if outcome.credited:
        metrics.FULFILLED_CREDITS.inc(credits)
    return outcome


async def _fulfil(
    db: Db,
    stripe_session_id: str,
    stripe_session: dict[str, Any],
) -> tuple[Outcome, int]:
    """fulfill_checkout's work: the outcome and the credits it added."""
    row = await sessions.lock_by_stripe_id(db, stripe_session_id)
    if row is None:
        return UNKNOWN_SESSION, 0
    if row.status == CheckoutStatus.COMPLETED:
        return ALREADY_COMPLETED, 0
    payment_status = stripe_session.get("payment_status")
    if payment_status not in PAID_STATUSES:
        return Outcome(f"not_paid: payment_status={payment_status}"), 0
    if payment_status == "no_payment_required" and stripe_session.get("status") != "complete":
        # A free session (a 100 % discount) says so from the start: it is fulfilled once the
        # student has completed it, like any other.
        return Outcome("not_paid: free session not completed"), 0
    redemption = (
        await promotion_limits.for_session(db, row.id) if row.promotion_id is not None else None
    )
    problems = _mismatches(row, stripe_session, stripe_session_id) + _discount_mismatches(
        row, redemption, stripe_session
    )
    if problems:
        detail = "; ".join(problems)
        log.error(
            "ALERT checkout session does not match our record; nothing credited",
            alert="checkout_mismatch",
            stripe_session_id=stripe_session_id,
            student_id=str(row.student_id),
            detail=detail,
        )
        return Outcome(f"mismatch: {detail}"), 0
    if row.status != CheckoutStatus.PENDING:
        # Money was taken for a session we had written off (e.g. paid just as it expired):
        # the customer paid, so they get their credits.
        log.warning(
            "fulfilling a session we had marked %s", row.status, stripe_session_id=stripe_session_id
        )

    # Statement order is free inside the transaction: the session and payment first, so that
    # in pipeline mode they travel in one round trip with the ledger posting (whose result
    # is read); see medgrader.db.session.
    payment_id = await payments.record_payment(
        db, checkout_session_id=row.id, payment_intent_id=_payment_intent_id(stripe_session)
    )
    await ledger.credit(
        db,
        student_id=row.student_id,
        amount=row.credits,
        source_type=SourceType.PURCHASE,
        source_id=stripe_session_id,
        description=f"Purchased {row.package_name}",
        metadata={
            "package_id": str(row.package_id),
            "checkout_session_id": str(row.id),
            "amount_pence": row.amount_pence,
            "currency": row.currency,
        },
        idempotency_key=f"purchase:{stripe_session_id}",
        # A paid lot worth what was paid, expiring when its package says (models.lots).
        value_minor=row.amount_pence,
        currency=row.currency,
        expires_at=row.lot_expires_at,
    )
    if redemption is not None:
        await _redeem(db, row, redemption, stripe_session_id)
    # Same transaction: the receipt job exists if and only if the purchase commits.
    await enqueue_receipt(db, payment_id)
    log.info(
        "checkout fulfilled",
        stripe_session_id=stripe_session_id,
        student_id=str(row.student_id),
        credits=row.credits,
        payment_id=str(payment_id),
    )
    return Outcome("fulfilled", credited=True, payment_id=payment_id), row.credits


async def _redeem(db: Db, row: Row[Any], redemption: Row[Any], stripe_session_id: str) -> None:
    """The promotion's use is confirmed with the purchase, and its bonus credits granted in
    the same transaction, once (the grant's keys are the redemption's and the session's)."""
    if redemption.status == RedemptionStatus.RELEASED:
        log.warning("ALERT honouring a promotion whose reservation was released",
                    alert="promotion_released_then_paid", stripe_session_id=stripe_session_id,
                    code=redemption.code)  # fmt: skip
    await promotion_limits.redeem(db, redemption.id)
    if redemption.bonus_credits > 0:
        await grants.grant(
            db, redemption_id=redemption.id, student_id=row.student_id,
            credits=redemption.bonus_credits, code=redemption.code,
            expire_days=redemption.credits_expire_days, purchase_session=stripe_session_id,
        )  # fmt: skip


async def mark_failed(db: Db, stripe_session_id: str) -> Outcome:
    """A delayed payment failed: FAILED, unless already settled either way."""
    return await _close(db, stripe_session_id, CheckoutStatus.FAILED)


async def mark_expired(db: Db, stripe_session_id: str) -> Outcome:
    """The session expired unpaid: EXPIRED, never over COMPLETED."""
    return await _close(db, stripe_session_id, CheckoutStatus.EXPIRED)


async def _close(db: Db, stripe_session_id: str, status: CheckoutStatus) -> Outcome:
    row = await sessions.lock_by_stripe_id(db, stripe_session_id)
    if row is None:
        return UNKNOWN_SESSION
    if await sessions.mark_if_pending(db, row.id, status):
        if row.promotion_id is not None:  # the session's reserved use frees its place
            await promotion_limits.release_for_session(db, row.id, status.lower())
        return Outcome(status.lower())
    return Outcome(f"unchanged: already {row.status}")


async def apply_stripe_session(db: Db, stripe_session: dict[str, Any]) -> Outcome:
    """Bring our row in line with a session retrieved from Stripe (status page, reconciliation)."""
    stripe_session_id = str(stripe_session.get("id"))
    payment_status, status = stripe_session.get("payment_status"), stripe_session.get("status")
    # A free session (100 % discount) is no_payment_required from the start: it counts as
    # paid once completed; left open until it expires, it is an expired session.
    if payment_status == "paid" or (payment_status in PAID_STATUSES and status == "complete"):
        return await fulfill_checkout(db, stripe_session_id, stripe_session)
    if status == "expired":
        return await mark_expired(db, stripe_session_id)
    return Outcome(f"not_paid: payment_status={stripe_session.get('payment_status')}")
