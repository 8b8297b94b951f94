"""Stripe's test card numbers and what each one does.

https://docs.stripe.com/testing lists them; this is the subset worth having here.
Any other well-formed number is refused as a live card used in test mode, and a
malformed one as an incorrect number, which is what Stripe does.

Three kinds of failure, as on Stripe:

- a *declined* card (0002, 9995, 0069, ...) is refused on every attempt, a payment or
  saving it (a SetupIntent): it can never be attached to a customer;
- a card whose *charges fail* (0341; 3178 for insufficient funds) saves fine, then
  every payment with it is declined;
- a card that *always authenticates* (3184, 3178) needs 3D Secure on every payment: the
  hosted page completes it (the payer is there), an off-session payment fails with
  ``authentication_required``.

``PAYMENT_METHOD_TOKENS`` are Stripe's test PaymentMethods (``pm_card_visa``, ...): each
use creates a fresh PaymentMethod for the card, as on Stripe.
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass
from datetime import UTC, datetime

from stripe_emulator.errors import StripeError

_BASE62 = string.digits + string.ascii_letters
_EXPIRY = re.compile(r"^\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*$")
# A card form left without an expiry date gets this one (any future date works on Stripe).
DEFAULT_EXPIRY = (12, 2034)


@dataclass(frozen=True)
class TestCard:
    __test__ = False  # not a pytest class, despite the name

    number: str
    brand: str
    funding: str = "credit"
    country: str = "US"
    # None: the card is accepted. Otherwise Stripe's error code and decline code for
    # every attempt, saving it included.
    code: str | None = None
    decline_code: str | None = None
    message: str = ""
    # Saves fine, but every payment is declined with these.
    charge_code: str | None = None
    charge_decline_code: str | None = None
    charge_message: str = ""
    # 3D Secure on every payment (the hosted page completes it; off-session cannot).
    always_authenticate: bool = False
    # What happens after a successful payment: its refunds fail some time after
    # succeeding (4000 0000 0000 5126), or the payer disputes it as fraudulent at
    # once (4000 0000 0000 0259).
    refunds_fail: bool = False
    disputed: bool = False

    @property
    def last4(self) -> str:
        return self.number[-4:]

    @property
    def declined(self) -> bool:
        return self.code is not None

    @property
    def fingerprint(self) -> str:
        """Stable per card number (Stripe's fingerprint identifies the card, not the use)."""
        value = int.from_bytes(hashlib.sha256(f"card:{self.number}".encode()).digest()[:12])
        chars = []
        for _ in range(16):
            value, digit = divmod(value, 62)
            chars.append(_BASE62[digit])
        return "".join(chars)

    def error(self) -> StripeError:
        """The refusal of any attempt with a declined card."""
        return card_error(self.code or "card_declined", self.decline_code, self.message)

    def payment_error(self, *, off_session: bool) -> StripeError | None:
        """Why a payment with this card fails (None: it is authorised)."""
        if self.declined:
            return self.error()
        if self.charge_code is not None:
            return card_error(self.charge_code, self.charge_decline_code, self.charge_message)
        if self.always_authenticate and off_session:
            return authentication_required()
        return None


def authentication_required() -> StripeError:
    """The decline of a payment that needed 3D Secure the payer could not complete."""
    return card_error(
        "authentication_required",
        "authentication_required",
        "Your card was declined. This transaction requires authentication.",
    )


def card_error(code: str, decline_code: str | None, message: str) -> StripeError:
    extra = {"decline_code": decline_code} if decline_code else {}
    return StripeError(message, status=402, type="card_error", code=code, extra=extra)


_DECLINED = "Your card was declined."
_NO_FUNDS = "Your card has insufficient funds."

CARDS: dict[str, TestCard] = {
    card.number: card
    for card in (
        TestCard("4242424242424242", "visa"),
        TestCard("4000056655665556", "visa", funding="debit"),
        TestCard("4000008260000000", "visa", country="GB"),
        TestCard("5555555555554444", "mastercard"),
        TestCard("4000000000005126", "visa", refunds_fail=True),
        TestCard("4000000000000259", "visa", disputed=True),
        TestCard("4000000000000341", "visa", charge_code="card_declined",
                 charge_decline_code="generic_decline", charge_message=_DECLINED),
        TestCard("4000002760003184", "visa", country="DE", always_authenticate=True),
        TestCard("4000008260003178", "visa", country="GB", always_authenticate=True,
                 charge_code="card_declined", charge_decline_code="insufficient_funds",
                 charge_message=_NO_FUNDS),
        TestCard("4000000000000002", "visa", code="card_declined",
                 decline_code="generic_decline", message=_DECLINED),
        TestCard("4000000000009995", "visa", code="card_declined",
                 decline_code="insufficient_funds", message=_NO_FUNDS),
        TestCard("4000000000009987", "visa", code="card_declined",
                 decline_code="lost_card", message=_DECLINED),
        TestCard("4000000000000069", "visa", code="expired_card",
                 decline_code="expired_card", message="Your card has expired."),
        TestCard("4000000000000127", "visa", code="incorrect_cvc",
                 decline_code="incorrect_cvc", message="Your card's security code is incorrect."),
        TestCard("4000000000000119", "visa", code="processing_error",
                 decline_code="processing_error",
                 message="An error occurred while processing your card. "
                 "Try again in a little bit."),
    )
}  # fmt: skip

# The hosted page's list of cards to pick from, with what each does.
CARD_CHOICES: list[tuple[str, str]] = [
    ("4242424242424242", "pays"),
    ("4000000000000002", "declined (generic_decline)"),
    ("4000000000009995", "declined (insufficient_funds)"),
    ("4000000000000341", "saves, then every charge is declined"),
    ("4000002760003184", "authenticates on every payment (off-session: authentication_required)"),
    ("4000008260003178", "saves, then every charge is declined (insufficient_funds)"),
    ("4000000000005126", "pays; its refunds fail later"),
    ("4000000000000259", "pays, then is disputed"),
]

PAYMENT_METHOD_TOKENS: dict[str, str] = {
    "pm_card_visa": "4242424242424242",
    "pm_card_visa_debit": "4000056655665556",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_gb": "4000008260000000",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeDeclinedLostCard": "4000000000009987",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
    "pm_card_chargeDeclinedIncorrectCvc": "4000000000000127",
    "pm_card_chargeDeclinedProcessingError": "4000000000000119",
    "pm_card_chargeCustomerFail": "4000000000000341",
    "pm_card_authenticationRequired": "4000002760003184",
    "pm_card_authenticationRequiredChargeDeclinedInsufficientFunds": "4000008260003178",
    "pm_card_refundFail": "4000000000005126",
    "pm_card_createDispute": "4000000000000259",
}


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def lookup_card(raw_number: str) -> TestCard:
    """The test card for a number as typed (spaces and dashes allowed)."""
    number = "".join(ch for ch in raw_number if ch not in " -")
    card = CARDS.get(number)
    if card is not None:
        return card
    if not number.isdigit() or not 12 <= len(number) <= 19 or not _luhn_ok(number):
        return TestCard(
            number, "unknown", code="incorrect_number", message="Your card number is incorrect."
        )
    return TestCard(
        number,
        "unknown",
        code="card_declined",
        decline_code="live_mode_test_card",
        message="Your card was declined. Your request was in test mode, but used a "
        "non test (live) card. For a list of valid test cards, visit: "
        "https://stripe.com/docs/testing.",
    )


def parse_expiry(raw: str | None, now: int) -> tuple[int, int]:
    """``MM / YY`` (or ``MM/YYYY``) as typed on a card form; empty: a default future date."""
    if raw is None or not raw.strip():
        return DEFAULT_EXPIRY
    match = _EXPIRY.match(raw)
    if match is None:
        raise card_error("invalid_expiry_month", None, "Your card's expiration date is incomplete.")
    month, year = int(match.group(1)), int(match.group(2))
    year = year + 2000 if year < 100 else year
    if not 1 <= month <= 12:
        raise card_error("invalid_expiry_month", None, "Your card's expiration month is invalid.")
    today = datetime.fromtimestamp(now, UTC)
    if (year, month) < (today.year, today.month):
        raise card_error("invalid_expiry_year", None, "Your card's expiration year is in the past.")
    return month, year
