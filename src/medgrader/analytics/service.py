"""The figures the back office and the MedGrader frontend read: one service for both."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

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
from medgrader.core.errors import Unprocessable
from medgrader.db.session import Db
from medgrader.webhooks.service import handled_types

LONDON = ZoneInfo("Europe/London")
MAX_DAILY_DAYS = 366
DEFAULT_DAYS = 30


class InvalidRange(Unprocessable):
    code = "invalid_range"


@dataclass(frozen=True)
class DayRange:
    """First and last London calendar day, both included."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), LONDON).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), LONDON).astimezone(UTC)

    def day_starts(self) -> list[datetime]:
        """The UTC start of each day, then the end of the last one (days + 1 instants)."""
        return [
            datetime.combine(self.first + timedelta(days=i), time(), LONDON).astimezone(UTC)
            for i in range(self.days + 1)
        ]

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


DAY_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
# Far from the ends of the calendar: a range's UTC bounds (and its default start, 30 days
# back) are computed without overflowing.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)


def parse_day(raw: str | None) -> date | None:
    """A day as the API and the date inputs send it (YYYY-MM-DD); "" or None is no bound.
    Anything else, or a day that does not exist (2026-02-30), is 422 invalid_range."""
    if not raw:
        return None
    try:
        if not re.match(DAY_PATTERN, raw):
            raise ValueError(raw)
        day = date.fromisoformat(raw)
    except ValueError:
        raise InvalidRange("from/to: a day looks like 2026-12-31") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidRange(f"from/to: a day from {FIRST_DAY} to {LAST_DAY}")
    return day


def today_in_london(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(LONDON).date()


def last_days(days: int, *, today: date | None = None) -> DayRange:
    """The `days` London days ending today (1 = today only)."""
    last = today or today_in_london()
    return DayRange(last - timedelta(days=days - 1), last)


def day_range(first: date | None, last: date | None, *, max_days: int | None = None) -> DayRange:
    """?from=&to= as given (defaults: the last 30 days); InvalidRange (422) when reversed or
    longer than max_days."""
    last = last or today_in_london()
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InvalidRange("from: must be on or before to")
    span = (last - first).days + 1
    if max_days is not None and span > max_days:
        raise InvalidRange(f"to: a range of at most {max_days} days")
    return DayRange(first, last)


async def money(db: Db, days: DayRange) -> Money:
    row = await repository.money(db, days.start, days.end)
    return Money(
        payments=row.payments,
        gross_revenue=row.gross,
        refund_count=row.refund_count,
        refunds=row.refunds,
        dispute_count=row.dispute_count,
        disputes=row.disputes,
        net_revenue=row.gross - row.refunds - row.disputes,
    )


def _value_of(credits: int, bought_pence: int, bought_credits: int) -> int:
    # Integer arithmetic, rounded half up: no float near money.
    if bought_credits == 0:
        return 0
    return (credits * bought_pence * 2 + bought_credits) // (bought_credits * 2)


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
        credits_outstanding_value=_value_of(
            standing.held, standing.bought_pence, standing.bought_credits
        ),
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
                checkouts_created=row.checkouts_created,
                checkouts_completed=row.checkouts_completed,
                discounts=row.discounts,
                promotion_credits=row.promotion_credits,
                subscription_revenue=row.subscription_revenue,
            )
            for row in rows
        ],
    )
