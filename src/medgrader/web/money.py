"""Money as people type it in forms: pounds and pence ("5", "5.5", "£1,234.50") to integer
pence, never through a float."""

from __future__ import annotations

import re

from medgrader.core.errors import Unprocessable

_POUNDS = re.compile(r"^(\d{1,9})(?:\.(\d{1,2}))?$")


def parse_pounds(raw: str | None, *, field: str = "amount") -> int:
    """ "5.00" -> 500. Positive amounts only; Unprocessable (422) for anything else."""
    text = (raw or "").strip().removeprefix("£").replace(",", "").strip()
    match = _POUNDS.match(text)
    if match is None:
        raise Unprocessable(f"{field}: enter an amount in pounds, like 5.00")
    pounds, pence = match.group(1), (match.group(2) or "0").ljust(2, "0")
    amount = int(pounds) * 100 + int(pence)
    if amount <= 0:
        raise Unprocessable(f"{field}: must be more than £0.00")
    return amount


def parse_int(raw: str | None, *, field: str) -> int:
    """A whole number as typed ("-25", "+10"); Unprocessable (422) otherwise."""
    text = (raw or "").strip().replace(",", "")
    if not re.fullmatch(r"[+-]?\d{1,9}", text):
        raise Unprocessable(f"{field}: enter a whole number")
    return int(text)
