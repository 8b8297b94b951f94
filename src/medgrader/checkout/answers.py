"""What a recorded checkout session answers: the 201 of a retried start (its promotion's
figures included), the status page, the owner's list. Reads only; a session is seen by its
owner or an admin, and for anyone else it does not exist (404)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, text

from medgrader.auth.access import may_see
from medgrader.auth.users import User
from medgrader.checkout import repository as sessions
from medgrader.checkout.errors import CheckoutNotFound
from medgrader.checkout.schemas import CheckoutCreated, CheckoutSessionPage, CheckoutStatusOut
from medgrader.core.cursor import decode_uuid_position, encode_position
from medgrader.db.session import Db

# The promotion a recorded session was opened with (its bonus and code), for its figures.
_SESSION_OFFER = text(
    """
    SELECT r.bonus_credits, p.code
      FROM promotion_redemptions r JOIN promotions p ON p.id = r.promotion_id
     WHERE r.checkout_session_id = :id
    """
)


async def created_out(db: Db, row: Row[Any]) -> CheckoutCreated:
    """A recorded session's answer, as `record_checkout` gave it (its promotion's figures
    included), for a retry that gets the same session back."""
    offer = None
    if row.promotion_id is not None:
        offer = (await db.execute(_SESSION_OFFER, {"id": row.id})).one_or_none()
    return CheckoutCreated(
        session_url=row.session_url, session_id=row.stripe_session_id, expires_at=row.expires_at,
        amount=row.amount_pence, currency=row.currency, credits=row.credits,
        original_amount=row.amount_pence + row.discount_pence, discount=row.discount_pence,
        bonus_credits=offer.bonus_credits if offer else 0,
        promotion_code=offer.code if offer else None,
    )  # fmt: skip


def status_out(row: Row[Any]) -> CheckoutStatusOut:
    return CheckoutStatusOut(
        session_id=row.stripe_session_id,
        status=row.status,
        package_name=row.package_name,
        credits=row.credits,
        amount=row.amount_pence,
        currency=row.currency,
        created_at=row.created_at,
        expires_at=row.expires_at,
        completed_at=row.completed_at,
    )


async def find_session(db: Db, user: User, stripe_session_id: str) -> Row[Any]:
    """The owner's (or, for an admin, anyone's) session row; 404 for everyone else."""
    row = await sessions.by_stripe_id(db, stripe_session_id)
    if row is None or not may_see(user, row.student_id):
        raise CheckoutNotFound()  # another student's session is not even admitted to exist
    return row


async def list_sessions(
    db: Db, user: User, *, limit: int, cursor: str | None
) -> CheckoutSessionPage:
    after = decode_uuid_position(cursor) if cursor else None
    rows = await sessions.page_for_student(db, user.id, limit=limit + 1, after=after)
    page, more = rows[:limit], len(rows) > limit
    return CheckoutSessionPage(
        items=[status_out(r) for r in page],
        next_cursor=(encode_position(page[-1].created_at, page[-1].id) if more and page else None),
    )
