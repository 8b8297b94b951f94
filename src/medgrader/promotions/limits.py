"""Uses of a promotion, within its limits: reserve, link to a session, redeem, release.

Invariants kept here:
- no more than `max_redemptions` live uses (RESERVED or REDEEMED) of a promotion, and no more
  than `max_per_student` of one student: each live use holds a numbered place, chosen below the
  limit under the promotion's row lock and guarded by partial UNIQUE indexes
  (models.promotions), so racing checkouts queue on the lock and the late ones are refused;
- a first-purchase use is refused while the student has a payment that is not fully refunded
  or another first-purchase use reserved; checked under the student's profile row lock (taken
  before the promotion's: one lock order), so two racing first purchases cannot both pass,
  and a partial UNIQUE index allows one RESERVED first-purchase use per student;
- a reservation made before Stripe is asked (`claimed_until`) counts until it is linked to its
  session, or until the claim lapses (a crash between the two): then the next reservation of
  the promotion releases it;
- one use per checkout session (UNIQUE checkout_session_id), redeemed at most once.
Nothing here commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, text

from medgrader.db.session import Db
from medgrader.promotions import repository
from medgrader.promotions.errors import (
    FirstPurchaseOnly,
    PromotionAlreadyUsed,
    PromotionExhausted,
    PromotionNotFound,
)
from medgrader.promotions.rules import Quote, check_current

# Long enough for Stripe's slowest answer with retries (the gateway's timeout is seconds).
CLAIM_LIFETIME = timedelta(minutes=10)

_LOCK_STUDENT = text("SELECT 1 FROM student_profiles WHERE user_id = :student_id FOR NO KEY UPDATE")
# Lapsed claims of this promotion, and (a first purchase) the student's lapsed first-purchase
# claims of any promotion: both would otherwise keep a place (or the one first-purchase slot).
_RELEASE_LAPSED = text(
    """
    UPDATE promotion_redemptions
       SET status = 'RELEASED', release_reason = 'claim_lapsed', released_at = now(),
           updated_at = now()
     WHERE (promotion_id = :promotion_id OR (:first_purchase AND student_id = :student_id
                                             AND first_purchase))
       AND status = 'RESERVED' AND checkout_session_id IS NULL AND claimed_until < now()
    """
)
# A use that holds its place: redeemed, or reserved for a session, or claimed and the claim
# not lapsed (a lapsed claim is released by the next reservation, which then takes its place).
HOLDS_PLACE = """(r.status = 'REDEEMED' OR (r.status = 'RESERVED'
                  AND (r.checkout_session_id IS NOT NULL OR r.claimed_until > now())))"""
# The free places (lowest first) and the first-purchase facts, in one statement.
_PLACES = text(
    f"""
    SELECT
      (SELECT s FROM generate_series(1, COALESCE(CAST(:max_uses AS int), 1)) s
        WHERE NOT EXISTS (SELECT 1 FROM promotion_redemptions r
                           WHERE r.promotion_id = :promotion_id AND r.slot = s
                             AND {HOLDS_PLACE})
        ORDER BY s LIMIT 1) AS slot,
      (SELECT s FROM generate_series(1, :max_per_student) s
        WHERE NOT EXISTS (SELECT 1 FROM promotion_redemptions r
                           WHERE r.promotion_id = :promotion_id AND r.student_id = :student_id
                             AND r.student_slot = s AND {HOLDS_PLACE})
        ORDER BY s LIMIT 1) AS student_slot,
      EXISTS (SELECT 1 FROM payments p
               WHERE p.student_id = :student_id AND p.status <> 'REFUNDED') AS has_paid,
      EXISTS (SELECT 1 FROM promotion_redemptions r
               WHERE r.student_id = :student_id AND r.first_purchase AND r.status = 'RESERVED'
                 AND (r.checkout_session_id IS NOT NULL OR r.claimed_until > now()))
        AS first_open
    """  # noqa: S608 - only the constant HOLDS_PLACE is interpolated
)
_INSERT = text(
    """
    INSERT INTO promotion_redemptions (
        promotion_id, student_id, status, slot, student_slot, claimed_until, first_purchase,
        package_id, original_amount_pence, discount_pence, bonus_credits, redeemed_at)
    VALUES (:promotion_id, :student_id, CAST(:status AS varchar), :slot, :student_slot,
            :claimed_until, :first_purchase, :package_id, :original_amount_pence, :discount_pence,
            :bonus_credits, CASE WHEN CAST(:status AS varchar) = 'REDEEMED' THEN now() END)
    RETURNING id
    """
)
_LINK = text(
    """
    UPDATE promotion_redemptions
       SET checkout_session_id = :checkout_session_id, claimed_until = NULL, updated_at = now()
     WHERE id = :id AND status = 'RESERVED'
    RETURNING id
    """
)
_RELEASE_CLAIM = text(
    """
    UPDATE promotion_redemptions
       SET status = 'RELEASED', release_reason = :reason, released_at = now(),
           updated_at = now()
     WHERE id = :id AND status = 'RESERVED' AND checkout_session_id IS NULL
    """
)
_FOR_SESSION = text(
    """
    SELECT r.id, r.promotion_id, r.student_id, r.status, r.original_amount_pence,
           r.discount_pence, r.bonus_credits, p.code, p.credits_expire_days
      FROM promotion_redemptions r JOIN promotions p ON p.id = r.promotion_id
     WHERE r.checkout_session_id = :checkout_session_id
       FOR UPDATE OF r
    """
)
# A use honoured after its reservation was released (a session paid as it expired) keeps no
# place: it may be past the limit (the customer paid; the audit reports it).
_REDEEM = text(
    """
    UPDATE promotion_redemptions
       SET slot = CASE WHEN status = 'RESERVED' THEN slot END,
           student_slot = CASE WHEN status = 'RESERVED' THEN student_slot END,
           status = 'REDEEMED', redeemed_at = now(), release_reason = NULL, released_at = NULL,
           updated_at = now()
     WHERE id = :id AND status <> 'REDEEMED'
    RETURNING id
    """
)
_RELEASE_SESSION = text(
    """
    UPDATE promotion_redemptions
       SET status = 'RELEASED', release_reason = :reason, released_at = now(),
           updated_at = now()
     WHERE checkout_session_id = :checkout_session_id AND status = ANY(:from_statuses)
    RETURNING id
    """
)
_GRANTED = text(
    """
    UPDATE promotion_redemptions SET granted_credits = :credits, ledger_entry_id = :entry_id,
           updated_at = now()
     WHERE id = :id
    """
)


# The bonus riding on a payment's purchase, locked while money returned moves it.
_BONUS_OF_PAYMENT = text(
    """
    SELECT r.id, r.granted_credits, r.bonus_taken_back
      FROM promotion_redemptions r JOIN payments p ON p.checkout_session_id = r.checkout_session_id
     WHERE p.id = :payment_id AND r.granted_credits > 0
       FOR UPDATE OF r
    """
)
_SET_BONUS_TAKEN_BACK = text(
    """
    UPDATE promotion_redemptions SET bonus_taken_back = :taken, updated_at = now()
     WHERE id = :id AND bonus_taken_back = :before
    RETURNING id
    """
)
# A fully refunded purchase gives its use back, unless a refund of it was for fraud.
_RELEASE_REFUNDED = text(
    """
    UPDATE promotion_redemptions r
       SET status = 'RELEASED', release_reason = 'refunded', released_at = now(),
           redeemed_at = NULL, updated_at = now()
      FROM payments p
     WHERE p.id = :payment_id AND r.checkout_session_id = p.checkout_session_id
       AND r.status = 'REDEEMED'
       AND NOT EXISTS (SELECT 1 FROM refunds f
                        WHERE f.payment_id = p.id AND f.reason = 'fraudulent')
    RETURNING r.id
    """
)


@dataclass(frozen=True)
class Reserved:
    redemption_id: uuid.UUID
    promotion: Any  # the promotion's row, as read under its lock


async def reserve(
    db: Db,
    promotion: Any,
    student_id: uuid.UUID,
    *,
    now: datetime,
    quote: Quote | None = None,
    package_id: uuid.UUID | None = None,
    redeem_now: bool = False,
) -> Reserved:
    """One use of `promotion` (a row read beforehand) by the student: RESERVED with a claim
    (a checkout, before Stripe is asked), or REDEEMED at once (`redeem_now`: a credit code).
    Raises the refusal that applies; the caller's transaction then rolls back."""
    if promotion.first_purchase_only:
        await db.execute(_LOCK_STUDENT, {"student_id": student_id})
    locked = await repository.lock(db, promotion.id)
    if locked is None:
        raise PromotionNotFound()
    check_current(locked, now)  # deactivated or ended since it was read
    await db.execute(
        _RELEASE_LAPSED,
        {"promotion_id": locked.id, "student_id": student_id,
         "first_purchase": locked.first_purchase_only},
    )  # fmt: skip
    places = await _places(db, locked, student_id)
    values = {
        "promotion_id": locked.id, "student_id": student_id,
        "status": "REDEEMED" if redeem_now else "RESERVED",
        "slot": places.slot if locked.max_redemptions is not None else None,
        "student_slot": places.student_slot,
        "claimed_until": None if redeem_now else now + CLAIM_LIFETIME,
        "first_purchase": locked.first_purchase_only, "package_id": package_id,
        "original_amount_pence": quote.original_amount if quote else 0,
        "discount_pence": quote.discount if quote else 0,
        "bonus_credits": quote.bonus_credits if quote else 0,
    }  # fmt: skip
    redemption_id = (await db.execute(_INSERT, values)).scalar_one()
    return Reserved(redemption_id=redemption_id, promotion=locked)


async def check_available(db: Db, promotion: Any, student_id: uuid.UUID) -> None:
    """The same refusals as `reserve`, read without locking or writing (the preview)."""
    await _places(db, promotion, student_id)


async def _places(db: Db, promotion: Any, student_id: uuid.UUID) -> Row[Any]:
    places = (
        await db.execute(
            _PLACES,
            {
                "promotion_id": promotion.id,
                "student_id": student_id,
                "max_uses": promotion.max_redemptions,
                "max_per_student": promotion.max_per_student,
            },
        )
    ).one()
    if promotion.first_purchase_only and (places.has_paid or places.first_open):
        raise FirstPurchaseOnly()
    if places.student_slot is None:
        raise PromotionAlreadyUsed()
    if promotion.max_redemptions is not None and places.slot is None:
        raise PromotionExhausted()
    return places


async def link(db: Db, redemption_id: uuid.UUID, checkout_session_id: uuid.UUID) -> bool:
    """The reservation now belongs to its session (no longer bounded by its claim). False if
    the claim had lapsed and was released meanwhile: fulfilment then redeems it all the same."""
    row = await db.execute(_LINK, {"id": redemption_id, "checkout_session_id": checkout_session_id})
    return row.first() is not None


async def release_claim(db: Db, redemption_id: uuid.UUID, reason: str) -> None:
    """Stripe refused or failed: the reservation made for it is given back at once."""
    await db.execute(_RELEASE_CLAIM, {"id": redemption_id, "reason": reason})


async def for_session(db: Db, checkout_session_id: uuid.UUID) -> Row[Any] | None:
    """The session's use, locked (fulfilment holds the session's lock already)."""
    result = await db.execute(_FOR_SESSION, {"checkout_session_id": checkout_session_id})
    return result.one_or_none()


async def redeem(db: Db, redemption_id: uuid.UUID) -> bool:
    return (await db.execute(_REDEEM, {"id": redemption_id})).first() is not None


async def release_for_session(
    db: Db, checkout_session_id: uuid.UUID, reason: str, *, redeemed_too: bool = False
) -> bool:
    """The session expired or failed (a reservation), or its purchase was fully refunded
    (`redeemed_too`): its place is free again."""
    statuses = ["RESERVED", "REDEEMED"] if redeemed_too else ["RESERVED"]
    result = await db.execute(
        _RELEASE_SESSION,
        {"checkout_session_id": checkout_session_id, "reason": reason, "from_statuses": statuses},
    )
    return result.first() is not None


async def record_grant(
    db: Db, redemption_id: uuid.UUID, *, credits: int, entry_id: uuid.UUID
) -> None:
    await db.execute(_GRANTED, {"id": redemption_id, "credits": credits, "entry_id": entry_id})


async def bonus_of_payment(db: Db, payment_id: uuid.UUID) -> Row[Any] | None:
    """The granted bonus of the payment's purchase (locked), or None."""
    return (await db.execute(_BONUS_OF_PAYMENT, {"payment_id": payment_id})).one_or_none()


async def set_bonus_taken_back(
    db: Db, redemption_id: uuid.UUID, *, before: int, taken: int
) -> bool:
    """Compare-and-set of what was taken back of a bonus (its caller holds the row's lock)."""
    result = await db.execute(
        _SET_BONUS_TAKEN_BACK, {"id": redemption_id, "before": before, "taken": taken}
    )
    return result.first() is not None


async def release_refunded(db: Db, payment_id: uuid.UUID) -> bool:
    """The payment was fully refunded: its promotion use is free again (not after fraud)."""
    return (await db.execute(_RELEASE_REFUNDED, {"payment_id": payment_id})).first() is not None
