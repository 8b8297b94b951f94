"""London calendar days as the API and the pages take them (?from=&to=): parsing, ranges and
their UTC bounds; a day that does not exist or a reversed range is 422 invalid_range."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from medgrader.core.errors import Unprocessable

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
