"""Billing periods: the calendar arithmetic of recurring prices.

A subscription's periods are counted from its ``billing_cycle_anchor``: the k-th
boundary of a monthly price is the anchor plus k months, on the anchor's day of the
month or the last day of a shorter month (an anchor on 31 January bills on 28 or 29
February, then 31 March), which is how Stripe describes it. Years are 12 months, weeks 7
days, days 86,400 seconds. Every time is a Unix timestamp in UTC.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

INTERVALS = ("day", "week", "month", "year")
# The longest interval_count Stripe allows for each interval (three years in all).
MAX_COUNT = {"day": 1095, "week": 156, "month": 36, "year": 3}


def _add_months(moment: datetime, months: int) -> datetime:
    total = moment.month - 1 + months
    year, month = moment.year + total // 12, total % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def boundary(anchor: int, interval: str, count: int, index: int) -> int:
    """The ``index``-th period boundary after ``anchor`` (0 is the anchor itself)."""
    start = datetime.fromtimestamp(anchor, UTC)
    steps = count * index
    if interval == "month":
        moment = _add_months(start, steps)
    elif interval == "year":
        moment = _add_months(start, 12 * steps)
    elif interval == "week":
        moment = start + timedelta(weeks=steps)
    elif interval == "day":
        moment = start + timedelta(days=steps)
    else:
        raise ValueError(f"unknown interval {interval!r}")
    return int(moment.timestamp())


def every(interval: str, count: int) -> str:
    """How a price's recurrence reads: ``month``, ``every 3 months``."""
    return interval if count == 1 else f"every {count} {interval}s"
