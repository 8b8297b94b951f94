"""Starting a Stripe Checkout for a credit package, and following it to the end.

Starting one takes three steps that the edge runs in order (checkout.flows):
`prepare_checkout` (reads, in the first transaction), `open_at_stripe` (Stripe calls, no
connection held: `external_call`) and `record_checkout` (writes, in the next transaction).
None of them commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import text

from medgrader.auth.users import User
from medgrader.catalog import service as catalog
from medgrader.checkout import repository as sessions
from medgrader.checkout.errors import EmailNotVerified, PackageInactive
from medgrader.checkout.schemas import (
    CheckoutCreated,
    CheckoutQuote,
)
from medgrader.core.adapters.stripe_errors import CustomerMissing
from medgrader.core.adapters.stripe_gateway import CreatedSession
from medgrader.core.context import AppContext
from medgrader.db.session import Db
from medgrader.promotions import limits as promotion_limits
from medgrader.promotions import offers
from medgrader.promotions.offers import Offer
from medgrader.promotions.rules import normalise

log = structlog.get_logger(__name__)

# Stripe refuses an expires_at more than 24 hours after creation by ITS clock; a minute of
# slack keeps a clock a little ahead of Stripe's from turning every checkout into a 502.
CHECKOUT_LIFETIME = timedelta(hours=24) - timedelta(minutes=1)
CURRENCY = "GBP"


PROFILE = text(
    "SELECT first_name, last_name, stripe_customer_id FROM student_profiles WHERE user_id = :id"
)
# Never replaces a stored id (the column is UNIQUE): the first writer wins, the others read it.
STORE_CUSTOMER = text(
    """
    UPDATE student_profiles SET stripe_customer_id = :customer, updated_at = now()
     WHERE user_id = :id AND stripe_customer_id IS NULL
    """
)
# Replaces only the id Stripe said is gone: racing replacements write the same new id (one
# idempotency key), and an id someone stored meanwhile is never overwritten.
REPLACE_CUSTOMER = text(
    """
    UPDATE student_profiles SET stripe_customer_id = :customer, updated_at = now()
     WHERE user_id = :id AND stripe_customer_id = :missing
    """
)


@dataclass(frozen=True)
class CustomerPlan:
    """What any Checkout (payment or setup) needs to know of the student's Stripe Customer."""

    customer_id: str | None  # the student's stored Stripe Customer, if any
    customer_name: str


@dataclass(frozen=True)
class CheckoutPlan(CustomerPlan):
    """What the first short transaction read: all a checkout needs from us to call Stripe."""

    package_id: uuid.UUID
    package_name: str
    package_description: str | None
    credits: int
    price_pence: int
    # Save the card for later off-session charges (automatic top-up).
    save_card: bool = False
    # The promotion on this purchase, its use already reserved (committed before Stripe).
    offer: Offer | None = None

    @property
    def amount(self) -> int:
        """What Stripe is to charge: the price, less the promotion's discount."""
        return self.offer.quote.amount if self.offer else self.price_pence

    @property
    def discount(self) -> int:
        return self.offer.quote.discount if self.offer else 0

    def quote_out(self) -> dict[str, Any]:
        return {
            "amount": self.amount,
            "currency": CURRENCY,
            "credits": self.credits,
            "original_amount": self.price_pence,
            "discount": self.discount,
            "bonus_credits": self.offer.quote.bonus_credits if self.offer else 0,
            "promotion_code": self.offer.code if self.offer else None,
        }


# Builds a Checkout Session's parameters for the student's Customer (payment or setup mode).
SessionParams = Callable[[AppContext, User, str, Any, datetime], dict[str, Any]]


@dataclass(frozen=True)
class OpenedAtStripe:
    customer_id: str
    new_customer: bool  # created by this checkout: still to be stored on the student
    session: CreatedSession
    # The stored Customer id Stripe no longer knows, which the new one replaces.
    replaces: str | None = None


async def prepare_customer(db: Db, user: User) -> CustomerPlan:
    """The student's stored Customer and name (a setup-mode Checkout needs only this)."""
    if user.email_verified_at is None:
        raise EmailNotVerified()
    profile = (await db.execute(PROFILE, {"id": user.id})).one()
    return CustomerPlan(
        customer_id=profile.stripe_customer_id,
        customer_name=f"{profile.first_name} {profile.last_name}".strip(),
    )


async def prepare_checkout(
    db: Db,
    user: User,
    package_id: uuid.UUID,
    promotion_code: str | None = None,
    *,
    reserve: bool = True,
    save_card: bool = False,
) -> CheckoutPlan:
    """Step 1: may this student buy this package, with this promotion? Refusals never reach
    Stripe. The one write: the promotion's use, reserved within its limits (`reserve`; the
    preview reads only). `save_card`: the card is saved for automatic top-up."""
    customer = await prepare_customer(db, user)
    package = await catalog.get_package(db, package_id, include_inactive=True)
    if not package.is_active:
        raise PackageInactive()
    offer = await offers.purchase_offer(
        db, code=promotion_code, student_id=user.id, package=package, reserve=reserve
    )
    return CheckoutPlan(
        offer=offer,
        package_id=package.id,
        package_name=package.name,
        package_description=package.description,
        credits=package.credits,
        price_pence=package.price_pence,
        customer_id=customer.customer_id,
        customer_name=customer.customer_name,
        save_card=save_card,
    )


async def reopen_promoted(
    db: Db, user: User, package_id: uuid.UUID, promotion_code: str | None
) -> CheckoutCreated | None:
    """The session this student already opened for this package with this promotion, if it
    is still open: a retried checkout (a closed tab, a double click) gets it back rather than
    a refusal that the code is used (its use is reserved for that session)."""
    code = normalise(promotion_code) if promotion_code else None
    row = await sessions.open_promoted(db, user.id, package_id, code)
    if row is None:
        return None
    return CheckoutCreated(
        session_url=row.session_url, session_id=row.stripe_session_id, expires_at=row.expires_at,
        amount=row.amount_pence, currency=row.currency, credits=row.credits,
        original_amount=row.amount_pence + row.discount_pence, discount=row.discount_pence,
        bonus_credits=row.bonus_credits, promotion_code=row.code,
    )  # fmt: skip


async def preview_checkout(
    db: Db, user: User, package_id: uuid.UUID, promotion_code: str | None
) -> CheckoutQuote:
    """The figures a checkout would have, with the same refusals; nothing opened or written."""
    plan = await prepare_checkout(db, user, package_id, promotion_code, reserve=False)
    return CheckoutQuote(**plan.quote_out())


def _session_params(
    ctx: AppContext,
    user: User,
    customer_id: str,
    plan: CheckoutPlan,
    expires_at: datetime,
) -> dict[str, Any]:
    frontend = ctx.settings.frontend_url.rstrip("/")
    product: dict[str, Any] = {"name": plan.package_name}
    if plan.package_description:
        product["description"] = plan.package_description
    metadata = {
        "student_id": str(user.id),
        "package_id": str(plan.package_id),
        "credits": str(plan.credits),
    }
    if plan.offer is not None:
        metadata["promotion_code"] = plan.offer.code
    params: dict[str, Any] = {
        "mode": "payment",
        "currency": "gbp",
        "line_items": [
            {
                "price_data": {
                    "currency": "gbp",
                    "unit_amount": plan.price_pence,  # our catalogue, never the request
                    "product_data": product,
                },
                "quantity": 1,
            }
        ],
        "customer": customer_id,
        "client_reference_id": str(user.id),
        "metadata": metadata,
        "success_url": f"{frontend}/credits/success?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{frontend}/credits/cancel",
        "expires_at": int(expires_at.timestamp()),
    }
    if plan.save_card:
        # Stripe attaches the paid card to the Customer for later off-session charges, and
        # its page tells the student so.
        params["payment_intent_data"] = {"setup_future_usage": "off_session"}
    return params


async def _coupon_for(ctx: AppContext, plan: CustomerPlan) -> str | None:
    """A one-use coupon of exactly our discount (so Stripe takes off what we recorded, with no
    rounding of its own), keyed by the reservation: a retry gets the same coupon. Only a
    purchase with a discount has one (a setup-mode Checkout never)."""
    if not isinstance(plan, CheckoutPlan) or plan.offer is None or plan.offer.quote.discount == 0:
        return None
    return await ctx.stripe.create_coupon(
        amount_off=plan.offer.quote.discount,
        currency=CURRENCY.lower(),
        name=plan.offer.code,
        idempotency_key=f"medgrader-coupon-{plan.offer.redemption_id}",
    )


async def open_at_stripe(
    ctx: AppContext, user: User, plan: CustomerPlan, build: SessionParams = _session_params
) -> OpenedAtStripe:
    """Step 2 (no database): the Customer if the student has none yet, then the session.

    Called with no transaction open, so a slow Stripe holds no pooled connection. Failures
    leave as BadGateway (502) and nothing has been written on our side.

    A stored Customer that Stripe says does not exist (deleted in the Dashboard) is replaced,
    once: a new Customer, then the session again. A Customer this very call created that is
    missing too is a 502, never a loop.
    """
    if plan.customer_id is None:
        customer_id = await _create_customer(ctx, user, plan, key=f"medgrader-customer-{user.id}")
        return await _open_session(ctx, user, plan, build, customer_id, new_customer=True)
    try:
        return await _open_session(ctx, user, plan, build, plan.customer_id, new_customer=False)
    except CustomerMissing:
        missing = plan.customer_id
    log.warning(
        "stored stripe customer is gone; creating a new one",
        student_id=str(user.id),
        missing_customer=missing,
    )
    # One key per (student, missing id): racing checkouts get the same new Customer.
    customer_id = await _create_customer(
        ctx, user, plan, key=f"medgrader-customer-{user.id}-replacing-{missing}"
    )
    return await _open_session(
        ctx, user, plan, build, customer_id, new_customer=True, replaces=missing
    )


async def _create_customer(ctx: AppContext, user: User, plan: CustomerPlan, *, key: str) -> str:
    # The key is derived from the student: two racing first checkouts send the same key, so
    # Stripe creates one Customer and answers both with it.
    return await ctx.stripe.create_customer(
        student_id=str(user.id), email=user.email, name=plan.customer_name, idempotency_key=key
    )


async def _open_session(
    ctx: AppContext,
    user: User,
    plan: CustomerPlan,
    build: SessionParams,
    customer_id: str,
    *,
    new_customer: bool,
    replaces: str | None = None,
) -> OpenedAtStripe:
    expires_at = datetime.now(UTC) + CHECKOUT_LIFETIME
    coupon_id = await _coupon_for(ctx, plan)
    params = build(ctx, user, customer_id, plan, expires_at)
    if coupon_id is not None:  # Stripe shows the discount and charges the price less it
        params["discounts"] = [{"coupon": coupon_id}]
    created = await ctx.stripe.create_checkout_session(params)
    return OpenedAtStripe(
        customer_id=customer_id, new_customer=new_customer, session=created, replaces=replaces
    )


async def store_customer(db: Db, user: User, opened: OpenedAtStripe) -> None:
    """A Customer that opening the session created (or replaced) is stored on the student."""
    if opened.replaces is not None:
        await db.execute(
            REPLACE_CUSTOMER,
            {"customer": opened.customer_id, "id": user.id, "missing": opened.replaces},
        )
    elif opened.new_customer:
        await db.execute(STORE_CUSTOMER, {"customer": opened.customer_id, "id": user.id})


async def record_checkout(
    db: Db, user: User, plan: CheckoutPlan, opened: OpenedAtStripe
) -> CheckoutCreated:
    """Step 3 (writes): our PENDING row with the snapshot, and a new Customer id.

    Stripe first, our rows last: a Stripe failure leaves nothing on our side (502), and the
    student row is locked (by the customer UPDATE) only for the final moments before commit.
    If these writes fail, the open Stripe session is an orphan nobody can find from our side
    and it simply expires unpaid; the Customer is found again by its idempotency key.
    """
    created = opened.session
    await store_customer(db, user, opened)
    row = await sessions.insert(
        db,
        stripe_session_id=created.id,
        student_id=user.id,
        package_id=plan.package_id,
        package_name=plan.package_name,
        credits=plan.credits,
        amount_pence=plan.amount,
        currency=CURRENCY,
        session_url=created.url,
        expires_at=created.expires_at,
        discount_pence=plan.discount,
        promotion_id=plan.offer.promotion_id if plan.offer else None,
    )
    if plan.offer is not None and plan.offer.redemption_id is not None:
        linked = await promotion_limits.link(db, plan.offer.redemption_id, row.id)
        if not linked:  # the claim lapsed (Stripe took minutes): fulfilment honours it anyway
            log.warning("promotion claim lapsed before its session was recorded",
                        stripe_session_id=created.id, code=plan.offer.code)  # fmt: skip
    log.info(
        "checkout session created",
        stripe_session_id=created.id,
        student_id=str(user.id),
        package_id=str(plan.package_id),
    )
    return CheckoutCreated(
        session_url=created.url,
        session_id=created.id,
        expires_at=created.expires_at,
        **plan.quote_out(),
    )
