"""Showing money to people. Integer pence in, text out; no floats anywhere."""

from __future__ import annotations

SYMBOLS = {"GBP": "£"}


def format_money(pence: int, currency: str = "GBP") -> str:
    """1000 -> "£10.00", 123456 -> "£1,234.56"."""
    if not isinstance(pence, int) or isinstance(pence, bool):
        raise TypeError(f"money is integer pence, got {pence!r}")
    sign = "-" if pence < 0 else ""
    pounds, rest = divmod(abs(pence), 100)
    symbol = SYMBOLS.get(currency.upper())
    amount = f"{pounds:,}.{rest:02d}"
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency.upper()}"


def pounds_value(pence: int) -> str:
    """500 -> "5.00": pounds without symbol or separators (form inputs, CSV cells)."""
    sign = "-" if pence < 0 else ""
    whole, rest = divmod(abs(pence), 100)
    return f"{sign}{whole}.{rest:02d}"
