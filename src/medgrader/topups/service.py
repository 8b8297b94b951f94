"""Automatic top-up settings: validating them, storing them, and what the wallet shows.

Nothing here calls Stripe or commits: the edge (topups.flows) reads, asks Stripe for the
student's saved cards with no connection held, then calls `save_settings` in the next
transaction.
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from sqlalchemy import Row

from medgrader.catalog import service as catalog
from medgrader.core import metrics
from medgrader.db.session import Db
from medgrader.ledger import service as ledger
from medgrader.ledger.threshold import after_debit
from medgrader.models.topups import TopUpState
from medgrader.topups import repository
from medgrader.topups.errors import (
    MonthlyLimitBelowPrice,
    NoSavedCard,
    PaymentMethodNotFound,
    TopUpPackageInactive,
)
from medgrader.topups.schemas import AttemptOut, AutoTopUpIn, AutoTopUpOut, PaymentMethodOut

log = structlog.get_logger(__name__)


def card_out(method: dict[str, Any]) -> PaymentMethodOut:
    """A Stripe PaymentMethod as the wallet shows it."""
    card = method.get("card") or {}
    return PaymentMethodOut(
        id=str(method.get("id")),
        brand=card.get("brand"),
        last4=card.get("last4"),
        exp_month=card.get("exp_month"),
        exp_year=card.get("exp_year"),
    )


def card_columns(method: dict[str, Any]) -> dict[str, Any]:
    """A Stripe PaymentMethod as the settings row stores it."""
    card = method.get("card") or {}
    return {
        "pm": method.get("id"),
        "fingerprint": card.get("fingerprint"),
        "brand": card.get("brand"),
        "last4": card.get("last4"),
        "exp_month": card.get("exp_month"),
        "exp_year": card.get("exp_year"),
    }


async def check_settings(db: Db, body: AutoTopUpIn) -> None:
    """Refusals that need no Stripe: an inactive package (422), a limit below its price (422)."""
    package = await catalog.get_package(db, body.package_id, include_inactive=True)
    if not package.is_active:
        raise TopUpPackageInactive()
    if body.monthly_limit_minor < package.price_pence:
        raise MonthlyLimitBelowPrice(priceMinor=package.price_pence)


def choose_card(cards: list[dict[str, Any]], wanted: str | None) -> dict[str, Any]:
    """The card to charge: the one asked for (404 if it is not the student's), else the newest
    (Stripe lists newest first); 409 no_saved_card when there is none."""
    if wanted is not None:
        for card in cards:
            if card.get("id") == wanted:
                return card
        raise PaymentMethodNotFound()
    if not cards:
        raise NoSavedCard()
    return cards[0]


async def save_settings(
    db: Db, student_id: uuid.UUID, body: AutoTopUpIn, card: dict[str, Any] | None
) -> None:
    """Store the settings (a card is required to turn it on). Turning it on clears a
    suspension; if the available balance is already at or below the threshold, an attempt is
    queued now through the one trigger (ledger.threshold), guards included."""
    if body.enabled and card is None:
        raise NoSavedCard()
    # The balance row first, as every debit takes it: the trigger below reads the balance.
    await ledger.lock_balance(db, student_id)
    columns = (
        card_columns(card)
        if card is not None
        else dict.fromkeys(("pm", "fingerprint", "brand", "last4", "exp_month", "exp_year"))
    )
    await repository.upsert_settings(
        db,
        student_id=student_id,
        enabled=body.enabled,
        threshold=body.threshold_credits,
        package_id=body.package_id,
        monthly_limit=body.monthly_limit_minor,
        **columns,
    )
    if body.enabled:
        await after_debit(db, student_id)


def state_of(settings: Row[Any] | None) -> TopUpState:
    if settings is None or not settings.enabled:
        return TopUpState.OFF
    if settings.suspended_at is not None:
        return TopUpState.SUSPENDED
    return TopUpState.ACTIVE


def attempt_out(row: Row[Any]) -> AttemptOut:
    return AttemptOut(
        id=row.id,
        status=row.status,
        package_name=row.package_name,
        credits=row.credits,
        amount_minor=row.amount_pence,
        currency=row.currency,
        failure_code=row.failure_code,
        decline_code=row.decline_code,
        payment_id=row.payment_id,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


async def settings_out(db: Db, student_id: uuid.UUID) -> AutoTopUpOut:
    settings = await repository.settings_of(db, student_id)
    attempts = await repository.recent_attempts(db, student_id)
    spent = await repository.spent_this_month(db, student_id)
    card = None
    if settings is not None and settings.payment_method_id is not None:
        card = PaymentMethodOut(
            id=settings.payment_method_id,
            brand=settings.card_brand,
            last4=settings.card_last4,
            exp_month=settings.card_exp_month,
            exp_year=settings.card_exp_year,
        )
    state = state_of(settings)
    return AutoTopUpOut(
        enabled=bool(settings and settings.enabled),
        threshold_credits=settings.threshold_credits if settings else None,
        package_id=settings.package_id if settings else None,
        monthly_limit_minor=settings.monthly_limit_pence if settings else None,
        state=state,
        suspended_reason=settings.suspended_reason if state == TopUpState.SUSPENDED else None,
        payment_method=card,
        spent_this_month_minor=spent,
        attempts=[attempt_out(row) for row in attempts],
    )


async def forget_card(db: Db, payment_method_id: str) -> None:
    """The card is gone (removed here or detached at Stripe): settings that used it go off and
    attempts not yet sent to Stripe are canceled."""
    done = await repository.forget_card(db, payment_method_id)
    if done.canceled:
        metrics.TOP_UP_ATTEMPTS.labels(outcome="canceled", reason="card_removed").inc(done.canceled)
    if done.turned_off or done.canceled:
        log.info("automatic top-up turned off: its card was removed",
                 payment_method=payment_method_id, canceled_attempts=done.canceled)  # fmt: skip


async def card_saved(db: Db, customer_id: str, card: dict[str, Any]) -> str:
    """A card was saved to the student's Customer (a setup Checkout completed). If automatic
    top-up is suspended and this is a different card (another fingerprint) from the one that
    failed, it becomes the card charged and the suspension is lifted; an attempt is queued at
    once if the available balance is already at or below the threshold."""
    student_id = await repository.student_of_customer(db, customer_id)
    if student_id is None:
        return "unknown_customer"
    # The balance row first, as save_settings does: lifting a suspension turns top-up on, and
    # a posting's look at the settings (ledger.threshold.top_up_on_sql) is only true under
    # this lock. Then the one trigger, as for any debit: a resume with the balance already at
    # or below the threshold queues an attempt now (guards included), and so do lots the
    # lock's settle expired.
    await ledger.lock_balance(db, student_id)
    resumed = await repository.replace_suspended_card(db, student_id, card_columns(card))
    await after_debit(db, student_id)
    if resumed:
        log.info("automatic top-up resumed with a different card", student_id=str(student_id))
        return "card_saved: top-up resumed"
    return "card_saved"
