"""The VAT arithmetic (documents.vat) and the VAT settings: the issue's examples, the rounding
against an independent Decimal computation, and the credit notes' ceiling."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medgrader.config import ConfigurationError, Environment, Settings
from medgrader.documents.vat import credit_split, split, vat_in

TWENTY = Decimal(20)


@pytest.mark.parametrize(
    ("total", "vat"),
    [(1000, 167), (4500, 750), (8000, 1333), (0, 0), (1, 0), (3, 1), (6, 1), (25000, 4167)],
)
def test_vat_in_a_total_at_twenty_percent(total: int, vat: int) -> None:
    assert vat_in(total, TWENTY) == vat
    assert split(total, TWENTY).net == total - vat


def test_half_a_penny_goes_up() -> None:
    # 3 pence at 20 %: exactly 0.5p of VAT -> 1p (round-half-even would say 0).
    assert vat_in(3, TWENTY) == 1
    # 9p at 20 %: 1.5p -> 2p.
    assert vat_in(9, TWENTY) == 2


def test_not_registered_means_no_vat() -> None:
    assert vat_in(4500, None) == 0
    assert split(4500, Decimal(0)).net == 4500


def test_a_negative_total_is_a_bug() -> None:
    with pytest.raises(ValueError, match="negative"):
        vat_in(-1, TWENTY)


def decimal_reference(total: int, rate: Decimal) -> int:
    exact = Decimal(total) * rate / (Decimal(100) + rate)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@given(
    total=st.integers(min_value=0, max_value=10**9),
    rate=st.sampled_from([Decimal(20), Decimal(5), Decimal("17.5"), Decimal("12.5"), Decimal(0)]),
)
def test_rounding_matches_a_decimal_reference(total: int, rate: Decimal) -> None:
    vat = vat_in(total, rate)
    # Decimal's 28 digits are exact enough below 10^9 pence (the quotient is never a tie
    # that Decimal would misplace: a tie is an exact half, representable).
    assert vat == decimal_reference(total, rate)
    assert 0 <= vat <= total


@given(
    total=st.integers(min_value=1, max_value=10**7),
    parts=st.lists(st.integers(min_value=1, max_value=10**7), min_size=1, max_size=12),
    cancelled=st.lists(st.booleans(), min_size=12, max_size=12),
)
def test_credit_notes_never_pass_the_receipts_vat(
    total: int, parts: list[int], cancelled: list[bool]
) -> None:
    receipt = split(total, TWENTY)
    credited = vat_credited = 0
    for part, cancel in zip(parts, cancelled, strict=False):
        note = credit_split(
            amount=part,
            credited_before=credited,
            vat_credited_before=vat_credited,
            receipt_total=receipt.total,
            receipt_vat=receipt.vat,
            rate_percent=TWENTY,
        )
        assert 0 <= note.vat <= note.total
        assert note.net >= 0
        if not cancel:  # a debit note cancels it exactly: the totals go back where they were
            credited += note.total
            vat_credited += note.vat
        assert credited <= receipt.total
        assert vat_credited <= receipt.vat
    if credited == receipt.total:  # refunded in full: exactly the receipt's VAT and net
        assert vat_credited == receipt.vat
        assert credited - vat_credited == receipt.net


def test_a_full_refund_in_two_halves_reverses_exactly() -> None:
    receipt = split(1000, TWENTY)  # 167 VAT
    first = credit_split(amount=500, credited_before=0, vat_credited_before=0,
                         receipt_total=1000, receipt_vat=167, rate_percent=TWENTY)  # fmt: skip
    second = credit_split(amount=500, credited_before=500, vat_credited_before=first.vat,
                          receipt_total=1000, receipt_vat=167, rate_percent=TWENTY)  # fmt: skip
    assert (first.vat, second.vat) == (83, 84)
    assert first.vat + second.vat == receipt.vat
    assert first.net + second.net == receipt.net


def test_more_than_is_left_is_capped() -> None:
    note = credit_split(amount=900, credited_before=500, vat_credited_before=83,
                        receipt_total=1000, receipt_vat=167, rate_percent=TWENTY)  # fmt: skip
    assert (note.total, note.vat) == (500, 84)


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, environment=Environment.TEST, **values)  # type: ignore[arg-type]


def test_vat_settings_defaults() -> None:
    s = settings()
    assert s.vat_number is None
    assert s.vat_rate_percent == TWENTY
    assert s.document_number_prefix == "MG"


@pytest.mark.parametrize(
    ("given_number", "stored"),
    [("GB123456789", "GB123456789"), ("gb 123 4567 89", "GB123456789"),
     ("GB123456789012", "GB123456789012"), ("", None)],
)  # fmt: skip
def test_vat_number_is_checked_and_normalised(given_number: str, stored: str | None) -> None:
    assert settings(vat_number=given_number).vat_number == stored


@pytest.mark.parametrize("bad", ["123456789", "GB12345678", "GB1234567890", "FR12345678901", "GBX"])
def test_an_invalid_vat_number_stops_the_start(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="VAT_NUMBER"):
        settings(vat_number=bad)


def test_seller_address_lines_from_an_environment_variable() -> None:
    s = settings(seller_address="1 High Street\\nLondon\\n  SW1A 1AA ")
    assert s.seller_address_lines == ["1 High Street", "London", "SW1A 1AA"]
