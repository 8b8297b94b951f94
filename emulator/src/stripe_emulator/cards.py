"""Stripe's test card numbers and what each one does.

https://docs.stripe.com/testing lists them; this is the subset worth having here.
Any other well-formed number is refused as a live card used in test mode, and a
malformed one as an incorrect number, which is what Stripe does.
"""

from __future__ import annotations

from dataclasses import dataclass

from stripe_emulator.errors import StripeError


@dataclass(frozen=True)
class TestCard:
    __test__ = False  # not a pytest class, despite the name

    number: str
    brand: str
    funding: str = "credit"
    country: str = "US"
    # None: the payment succeeds. Otherwise Stripe's error code and decline code.
    code: str | None = None
    decline_code: str | None = None
    message: str = ""
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

    def error(self) -> StripeError:
        extra = {"decline_code": self.decline_code} if self.decline_code else {}
        return StripeError(self.message, status=402, type="card_error", code=self.code, extra=extra)


_DECLINED = "Your card was declined."

CARDS: dict[str, TestCard] = {
    card.number: card
    for card in (
        TestCard("4242424242424242", "visa"),
        TestCard("4000056655665556", "visa", funding="debit"),
        TestCard("4000008260000000", "visa", country="GB"),
        TestCard("5555555555554444", "mastercard"),
        TestCard("4000000000005126", "visa", refunds_fail=True),
        TestCard("4000000000000259", "visa", disputed=True),
        TestCard("4000000000000002", "visa", code="card_declined",
                 decline_code="generic_decline", message=_DECLINED),
        TestCard("4000000000009995", "visa", code="card_declined",
                 decline_code="insufficient_funds", message="Your card has insufficient funds."),
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
