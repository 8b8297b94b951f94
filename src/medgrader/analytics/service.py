"""The figures the back office and the MedGrader frontend read: one service for both."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from medgrader.analytics import repository
from medgrader.analytics.schemas import (
    AuditResult,
    Checkouts,
    Daily,
    Day,
    Money,
    PackageSales,
    Summary,
)
from medgrader.audit import runs as audit_runs

# The days' rules live in core.days (the VAT report takes them too); named here as before.
from medgrader.core.days import (  # noqa: F401
    DAY_PATTERN,
    DEFAULT_DAYS,
    FIRST_DAY,
    LAST_DAY,
    LONDON,
    MAX_DAILY_DAYS,
    DayRange,
    InvalidRange,
    day_range,
    last_days,
    parse_day,
    today_in_london,
)
from medgrader.db.session import Db
from medgrader.lots import service as lots
from medgrader.lots.schemas import CreditLiability
from medgrader.webhooks.service import handled_types


async def credit_liability(db: Db, day: date | None) -> CreditLiability:
    """The liability at the end of London day `day` (None: now)."""
    at = DayRange(day, day).end if day is not None else datetime.now(UTC)
    return await lots.liability(db, at)


async def money(db: Db, days: DayRange) -> Money:
    row = await repository.money(db, days.start, days.end)
    return Money(
        recognised_revenue=row.recognised,
        breakage=row.breakage,
        payments=row.payments,
        gross_revenue=row.gross,
        refund_count=row.refund_count,
        refunds=row.refunds,
        dispute_count=row.dispute_count,
        disputes=row.disputes,
        net_revenue=row.gross - row.refunds - row.disputes,
    )


async def last_audit(db: Db) -> AuditResult | None:
    run = await audit_runs.latest(db)
    if run is None:
        return None
    return AuditResult(
        ran_at=run.ran_at, findings=run.findings, clean=run.findings == 0, details=run.details
    )


async def summary(db: Db, days: DayRange) -> Summary:
    checkouts = await repository.checkouts(db, days.start, days.end)
    packages = await repository.by_package(db, days.start, days.end)
    standing = await repository.standing(db, handled_types())
    promoted = await repository.promotions(db, days.start, days.end)
    subscribed = await repository.subscriptions(db, days.start, days.end)
    return Summary(
        from_=days.first,
        to=days.last,
        money=await money(db, days),
        checkouts=Checkouts(**checkouts._asdict()),
        by_package=[PackageSales(**row._asdict()) for row in packages],
        discounts=promoted.discounts,
        promotion_credits=promoted.promotion_credits,
        subscription_revenue=subscribed.revenue,
        active_subscriptions=subscribed.active,
        mrr=subscribed.mrr,
        canceled_in_range=subscribed.canceled,
        credits_outstanding=standing.held,
        # What those credits' lots are worth (the lots' floor rule), not an average price.
        deferred_revenue=(await lots.liability(db, datetime.now(UTC))).deferred_revenue,
        negative_balances=standing.negative,
        open_disputes=standing.open_disputes,
        open_dispute_amount=standing.open_dispute_pence,
        webhook_events_unprocessed=standing.unprocessed,
        webhook_events_failed=standing.failed,
        webhook_events_unhandled=standing.unhandled,
        last_audit=await last_audit(db),
    )


async def daily(db: Db, days: DayRange) -> Daily:
    rows = await repository.daily(db, days.day_starts())
    return Daily(
        from_=days.first,
        to=days.last,
        days=[
            Day(
                date=days.first + timedelta(days=row.bucket - 1),
                payments=row.payments,
                gross_revenue=row.gross,
                refunds=row.refunds,
                disputes=row.disputes,
                net_revenue=row.gross - row.refunds - row.disputes,
                recognised_revenue=row.recognised,
                breakage=row.breakage,
                checkouts_created=row.checkouts_created,
                checkouts_completed=row.checkouts_completed,
                discounts=row.discounts,
                promotion_credits=row.promotion_credits,
                subscription_revenue=row.subscription_revenue,
            )
            for row in rows
        ],
    )
