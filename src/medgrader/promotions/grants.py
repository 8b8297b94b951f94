"""Posting promotion credits (a purchase's bonus, a credit code's grant): ONE call site.

Every credit a promotion gives goes through `grant`, which computes when the credits expire
(`rules.credits_expire_at`, the promotion's creditsExpireDays) and posts them with the one
ledger writer as their own entry (PROMOTION_BONUS or PROMOTION_CODE). Exactly once: the entry's
UNIQUE idempotency key is the redemption's, and a bonus's source is its Checkout Session (a
partial UNIQUE index: one bonus per session). The expiry travels in the entry's metadata until
credit lots land; then this function hands it to the lot writer (a GRANTED lot, linked to the
purchase's paid lot for a bonus) instead. Nothing here commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from medgrader.db.session import Db
from medgrader.ledger import service as ledger
from medgrader.ledger.service import LedgerEntry
from medgrader.models.ledger import SourceType
from medgrader.models.lots import LotKind, LotSource
from medgrader.promotions import limits
from medgrader.promotions.rules import credits_expire_at


@dataclass(frozen=True)
class Granted:
    entry: LedgerEntry
    expires_at: datetime | None


async def grant(
    db: Db,
    *,
    redemption_id: uuid.UUID,
    student_id: uuid.UUID,
    credits: int,
    code: str,
    expire_days: int | None,
    purchase_session: str | None = None,
) -> Granted:
    """Credit the student for one redemption: a bonus when `purchase_session` (the Stripe
    Checkout Session id of the purchase it rides on) is given, a credit code's grant otherwise."""
    expires_at = credits_expire_at(expire_days, datetime.now(UTC))
    if purchase_session is not None:
        source_type, source_id = SourceType.PROMOTION_BONUS, purchase_session
        description = f"Bonus credits ({code})"
    else:
        source_type, source_id = SourceType.PROMOTION_CODE, str(redemption_id)
        description = f"Credit code {code}"
    entry = await ledger.credit(
        db,
        student_id=student_id,
        amount=credits,
        source_type=source_type,
        source_id=source_id,
        description=description,
        metadata={
            "promotion_code": code,
            "redemption_id": str(redemption_id),
            "purchase_session": purchase_session,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
        idempotency_key=f"promotion:{redemption_id}",
        # Given, not bought: a GRANTED lot of source PROMOTION that expires when the
        # promotion says (creditsExpireDays; never without it).
        kind=LotKind.GRANTED,
        source=LotSource.PROMOTION,
        expires_at=expires_at,
    )
    await limits.record_grant(db, redemption_id, credits=credits, entry_id=entry.id)
    return Granted(entry=entry, expires_at=expires_at)
