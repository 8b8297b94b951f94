"""Formatting amounts (integer minor units) the way people read them: £10.00."""

from __future__ import annotations

# Currencies whose amounts have no minor unit (Stripe's list, abridged).
ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx",
                "vnd", "vuv", "xaf", "xof", "xpf"}  # fmt: skip

SYMBOLS = {"gbp": "£", "usd": "$", "eur": "€", "aud": "A$", "cad": "CA$", "jpy": "¥"}

# Minimum charge amounts Stripe enforces (in minor units).
MINIMUM_CHARGE = {"gbp": 30, "usd": 50, "eur": 50, "aud": 50, "cad": 50, "jpy": 50}

SUPPORTED = {"gbp", "usd", "eur", "aud", "cad", "chf", "dkk", "nok", "sek", "nzd", "jpy",
             "pln", "czk", "huf", "sgd", "hkd", "inr", "mxn", "brl"}  # fmt: skip


def format_amount(amount: int, currency: str) -> str:
    currency = currency.lower()
    symbol = SYMBOLS.get(currency)
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if currency in ZERO_DECIMAL:
        number = f"{amount:,}"
    else:
        major, minor = divmod(amount, 100)
        number = f"{major:,}.{minor:02d}"
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {currency.upper()}"
