"""The VAT arithmetic of every document, in integers (pence) and exact fractions.

Prices include VAT. The VAT in a total is total x rate / (100 + rate), rounded to the nearest
penny, half a penny up; the net is what is left. A credit note's VAT is the difference between
the VAT of everything credited so far, after and before it: by the same rounding, never more in
total than its receipt's VAT, and a refund of everything reverses exactly the receipt's VAT and
net. No float comes near money (invariant 7).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction


@dataclass(frozen=True)
class VatSplit:
    """A total (VAT included) split in net + VAT."""

    total: int
    vat: int

    @property
    def net(self) -> int:
        return self.total - self.vat


def vat_in(total: int, rate_percent: Decimal | None) -> int:
    """The VAT included in `total` pence at `rate_percent` (None: not VAT-registered, no VAT)."""
    if total < 0:
        raise ValueError("a total is never negative; the document's type carries the sign")
    if rate_percent is None or rate_percent == 0:
        return 0
    rate = Fraction(rate_percent)
    exact = Fraction(total) * rate / (100 + rate)
    # Half a penny up: floor(x + 1/2) on the exact fraction (round() would go half-to-even).
    return int(exact + Fraction(1, 2))


def split(total: int, rate_percent: Decimal | None) -> VatSplit:
    return VatSplit(total=total, vat=vat_in(total, rate_percent))


def credit_split(
    *,
    amount: int,
    credited_before: int,
    vat_credited_before: int,
    receipt_total: int,
    receipt_vat: int,
    rate_percent: Decimal | None,
) -> VatSplit:
    """The split of a credit note of `amount` pence against a receipt of which
    `credited_before` pence (carrying `vat_credited_before`) were already credited.

    The amount is capped at what is left of the receipt; the VAT is the cumulative rule's
    step, so the notes' VAT never sums past the receipt's and a full refund ends exactly on it.
    """
    left = max(0, receipt_total - credited_before)
    amount = max(0, min(amount, left))
    after = credited_before + amount
    if after >= receipt_total:
        vat = receipt_vat - vat_credited_before  # the last pence: exactly what is left
    else:
        vat = vat_in(after, rate_percent) - vat_credited_before
    vat = max(0, min(vat, receipt_vat - vat_credited_before, amount))
    return VatSplit(total=amount, vat=vat)
