"""A student's side of promotions: the offer on a purchase (typed or applied automatically),
and redeeming a credit code.

`purchase_offer` is the one path from a code to the figures of a checkout: the preview calls it
without reserving (a read: nothing written), the checkout with `reserve=True` (a use reserved
within the limits, committed before Stripe is asked). An auto-apply promotion the student is
not eligible for is simply not offered. Nothing here commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from medgrader.core.errors import Refusal
from medgrader.db.session import Db
from medgrader.idempotency.keys import validate_key
from medgrader.idempotency.runner import Answer, Done, run_once
from medgrader.idempotency.store import KeyedRequest
from medgrader.promotions import grants, limits, repository
from medgrader.promotions.errors import PromotionNotApplicable, PromotionNotFound
from medgrader.promotions.rules import Quote, check_current, is_credit_code, normalise, quote
from medgrader.promotions.schemas import RedeemOut


@dataclass(frozen=True)
class Offer:
    promotion_id: uuid.UUID
    code: str
    quote: Quote
    redemption_id: uuid.UUID | None  # set once reserved


async def purchase_offer(
    db: Db,
    *,
    code: str | None,
    student_id: uuid.UUID,
    package: Any,
    reserve: bool,
) -> Offer | None:
    """The promotion on this purchase: the typed code (refused if it does not apply), else
    the auto-apply promotion if the student is eligible, else None."""
    if code is not None:
        promotion = await repository.by_code(db, normalise(code))
        if promotion is None:
            raise PromotionNotFound()
        return await _offer(db, promotion, student_id, package, reserve=reserve)
    promotion = await repository.auto_apply(db)
    if promotion is None:
        return None
    try:
        async with db.savepoint():  # an ineligible student leaves no trace of the attempt
            return await _offer(db, promotion, student_id, package, reserve=reserve)
    except Refusal:
        return None


async def _offer(
    db: Db, promotion: Any, student_id: uuid.UUID, package: Any, *, reserve: bool
) -> Offer:
    now = datetime.now(UTC)
    check_current(promotion, now)
    figures = quote(
        promotion, package_id=package.id, price=package.price_pence, credits=package.credits
    )
    redemption_id = None
    # Read first, without a lock: an ineligible student or a used-up code is refused without
    # queueing on the promotion's row (every checkout tries the auto-apply offer).
    await limits.check_available(db, promotion, student_id)
    if reserve:
        reserved = await limits.reserve(
            db, promotion, student_id, now=now, quote=figures, package_id=package.id
        )
        redemption_id = reserved.redemption_id
    return Offer(
        promotion_id=promotion.id, code=promotion.code, quote=figures,
        redemption_id=redemption_id,
    )  # fmt: skip


REDEEM_OPERATION = "promotions.redeem"
REDEEMED = Answer[RedeemOut](
    dump=lambda out: out.model_dump(mode="json", by_alias=True),
    load=RedeemOut.model_validate,
)


async def redeem_once(
    db: Db, student_id: uuid.UUID, code: str, idempotency_key: str
) -> Done[RedeemOut]:
    """Redeem a credit code once per Idempotency-Key (idempotency.runner): a retry answers the
    first answer again, a refusal included (stored); the code's limits are the checkout's."""
    request = KeyedRequest.of(
        operation=REDEEM_OPERATION, owner_id=student_id, key=validate_key(idempotency_key),
        payload={"code": normalise(code)},
    )  # fmt: skip

    async def redeem() -> RedeemOut:
        async with db.savepoint():  # a refusal leaves nothing of the attempt but its answer
            return await _redeem_code(db, student_id, code)

    return await run_once(db, request, redeem, REDEEMED)


async def _redeem_code(db: Db, student_id: uuid.UUID, code: str) -> RedeemOut:
    """A credit code: its use REDEEMED and its credits granted, in the caller's transaction."""
    promotion = await repository.by_code(db, normalise(code))
    if promotion is None:
        raise PromotionNotFound()
    now = datetime.now(UTC)
    check_current(promotion, now)
    if not is_credit_code(promotion):
        raise PromotionNotApplicable("This code applies to a purchase: enter it when you buy.")
    reserved = await limits.reserve(db, promotion, student_id, now=now, redeem_now=True)
    granted = await grants.grant(
        db, redemption_id=reserved.redemption_id, student_id=student_id,
        credits=reserved.promotion.grant_credits, code=reserved.promotion.code,
        expire_days=reserved.promotion.credits_expire_days,
    )  # fmt: skip
    return RedeemOut(
        credits=granted.entry.amount, lot_id=granted.entry.id, expires_at=granted.expires_at,
        balance=granted.entry.balance_after,
    )  # fmt: skip
