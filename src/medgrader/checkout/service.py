"""Starting a Stripe Checkout for a credit package, and following it to the end."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession

from medgrader.catalog import service as catalog
from medgrader.checkout import repository as sessions
from medgrader.checkout.fulfilment import apply_stripe_session
from medgrader.checkout.schemas import (
    CheckoutCreated,
    CheckoutSessionPage,
    CheckoutStatusOut,
)
from medgrader.core.context import AppContext
from medgrader.core.errors import AppError, Conflict, Forbidden, NotFound, Unprocessable
from medgrader.models.checkout import CheckoutStatus
from medgrader.models.users import User

log = structlog.get_logger(__name__)

# Stripe refuses an expires_at more than 24 hours after creation by ITS clock; a minute of
# slack keeps a clock a little ahead of Stripe's from turning every checkout into a 502.
CHECKOUT_LIFETIME = timedelta(hours=24) - timedelta(minutes=1)
CURRENCY = "GBP"


class PackageInactive(Conflict):
    code, message = "package_inactive", "This credit package is no longer on sale."


class EmailNotVerified(Forbidden):
    code, message = "email_not_verified", "Verify your email before buying credits."


class CheckoutNotFound(NotFound):
    code, message = "checkout_session_not_found", "No such checkout session."


class InvalidCursor(Unprocessable):
    code, message = "invalid_cursor", "cursor: not a cursor this API handed out."


_PROFILE = text(
    "SELECT first_name, last_name, stripe_customer_id FROM student_profiles WHERE user_id = :id"
)
# Never replaces a stored id (the column is UNIQUE): the first writer wins, the others read it.
_STORE_CUSTOMER = text(
    """
    UPDATE student_profiles SET stripe_customer_id = :customer, updated_at = now()
     WHERE user_id = :id AND stripe_customer_id IS NULL
    """
)


async def _stripe_customer(
    session: AsyncSession, ctx: AppContext, user: User, profile: Row[Any]
) -> tuple[str, bool]:
    """The student's Stripe Customer id, and whether it still has to be stored."""
    if profile.stripe_customer_id:
        return profile.stripe_customer_id, False
    # The key is derived from the student: two racing first checkouts send the same key, so
    # Stripe creates one Customer and answers both with it.
    customer_id = await ctx.stripe.create_customer(
        student_id=str(user.id),
        email=user.email,
        name=f"{profile.first_name} {profile.last_name}".strip(),
        idempotency_key=f"medgrader-customer-{user.id}",
    )
    return customer_id, True


def _session_params(
    ctx: AppContext, user: User, customer_id: str, package: Any, expires_at: datetime
) -> dict[str, Any]:
    frontend = ctx.settings.frontend_url.rstrip("/")
    product: dict[str, Any] = {"name": package.name}
    if package.description:
        product["description"] = package.description
    return {
        "mode": "payment",
        "currency": "gbp",
        "line_items": [
            {
                "price_data": {
                    "currency": "gbp",
                    "unit_amount": package.price_pence,  # our catalogue, never the request
                    "product_data": product,
                },
                "quantity": 1,
            }
        ],
        "customer": customer_id,
        "client_reference_id": str(user.id),
        "metadata": {
            "student_id": str(user.id),
            "package_id": str(package.id),
            "credits": str(package.credits),
        },
        "success_url": f"{frontend}/credits/success?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{frontend}/credits/cancel",
        "expires_at": int(expires_at.timestamp()),
    }


async def create_checkout(
    session: AsyncSession, ctx: AppContext, user: User, package_id: uuid.UUID
) -> CheckoutCreated:
    if user.email_verified_at is None:
        raise EmailNotVerified()
    # Both checks come before any call to Stripe.
    package = await catalog.get_package(session, package_id, include_inactive=True)
    if not package.is_active:
        raise PackageInactive()
    profile = (await session.execute(_PROFILE, {"id": user.id})).one()

    # Stripe first, our rows last: a Stripe failure leaves nothing on our side (502), and the
    # student row is locked (by the customer UPDATE) only for the final moments before commit.
    # If our writes then fail, the open Stripe session is an orphan nobody can find from our
    # side and it simply expires unpaid; the Customer is found again by its idempotency key.
    customer_id, new_customer = await _stripe_customer(session, ctx, user, profile)
    expires_at = datetime.now(UTC) + CHECKOUT_LIFETIME
    created = await ctx.stripe.create_checkout_session(
        _session_params(ctx, user, customer_id, package, expires_at)
    )
    if new_customer:
        await session.execute(_STORE_CUSTOMER, {"customer": customer_id, "id": user.id})
    await sessions.insert(
        session,
        stripe_session_id=created.id,
        student_id=user.id,
        package_id=package.id,
        package_name=package.name,
        credits=package.credits,
        amount_pence=package.price_pence,
        currency=CURRENCY,
        session_url=created.url,
        expires_at=created.expires_at,
    )
    log.info(
        "checkout session created",
        stripe_session_id=created.id,
        student_id=str(user.id),
        package_id=str(package.id),
    )
    return CheckoutCreated(
        session_url=created.url,
        session_id=created.id,
        expires_at=created.expires_at,
        amount=package.price_pence,
        currency=CURRENCY,
        credits=package.credits,
    )


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


async def refresh_from_stripe(
    session: AsyncSession, ctx: AppContext, stripe_session_id: str
) -> Row[Any] | None:
    """Our row; a PENDING one is first checked with Stripe and fulfilled if paid (the
    success-page return may well beat the webhook). None if we do not know the session."""
    row = await sessions.by_stripe_id(session, stripe_session_id)
    if row is None or row.status != CheckoutStatus.PENDING:
        return row
    try:
        remote = await ctx.stripe.retrieve_checkout_session(stripe_session_id)
    except AppError:
        # Stripe is unreachable: answer what we know; the webhook will still fulfil it.
        return row
    outcome = await apply_stripe_session(session, ctx, remote)
    log.info("checkout status synced with stripe", stripe_session_id=stripe_session_id,
             outcome=str(outcome))  # fmt: skip
    return await sessions.by_stripe_id(session, stripe_session_id)


async def checkout_status(
    session: AsyncSession, ctx: AppContext, user: User, stripe_session_id: str
) -> CheckoutStatusOut:
    row = await sessions.by_stripe_id(session, stripe_session_id)
    if row is None or (row.student_id != user.id and not user.is_admin):
        raise CheckoutNotFound()  # another student's session is not even admitted to exist
    refreshed = await refresh_from_stripe(session, ctx, stripe_session_id)
    assert refreshed is not None
    return status_out(refreshed)


def _encode_cursor(row: Row[Any]) -> str:
    raw = f"{row.created_at.isoformat()}|{row.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, row_id = raw.split("|", 1)
        parsed = datetime.fromisoformat(created)
        if parsed.tzinfo is None:
            raise ValueError("naive timestamp")
        return parsed, uuid.UUID(row_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor() from exc


async def list_sessions(
    session: AsyncSession, user: User, *, limit: int, cursor: str | None
) -> CheckoutSessionPage:
    after = _decode_cursor(cursor) if cursor else None
    rows = await sessions.page_for_student(session, user.id, limit=limit + 1, after=after)
    page, more = rows[:limit], len(rows) > limit
    return CheckoutSessionPage(
        items=[status_out(r) for r in page],
        next_cursor=_encode_cursor(page[-1]) if more and page else None,
    )
