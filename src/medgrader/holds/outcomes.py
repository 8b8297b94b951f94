"""What a hold operation answers: an HTTP status and a JSON body, identical on every replay."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medgrader.core.errors import NotFound
from medgrader.credits.service import INSUFFICIENT_MESSAGE
from medgrader.holds.schemas import HoldOut
from medgrader.idempotency import store
from medgrader.idempotency.store import PriorVerdict

INSUFFICIENT = "insufficient_credits"  # 402: the available balance does not cover it
HOLD_EXPIRED = "hold_expired"  # 409: the hold reached expiresAt; its credits are free again
HOLD_CLOSED = "hold_closed"  # 409: the hold was already captured or released
AMOUNT_EXCEEDS_HOLD = "amount_exceeds_hold"  # 422: capture of more than is held
HOLD_TOO_LARGE = "hold_too_large"  # 422: an extension past the largest hold
TOO_MANY_HOLDS = "too_many_holds"  # 409: the student has the most active holds allowed
HOLD_LIFETIME_EXCEEDED = "hold_lifetime_exceeded"  # 409: past the longest a hold may live

MESSAGES = {
    INSUFFICIENT: INSUFFICIENT_MESSAGE,
    HOLD_EXPIRED: "This hold has expired; its credits were released.",
    HOLD_CLOSED: "This hold was already captured or released.",
    AMOUNT_EXCEEDS_HOLD: "amount: must not be more than the held amount.",
    HOLD_TOO_LARGE: "additionalAmount: the hold would be larger than one charge may be.",
    TOO_MANY_HOLDS: (
        "You already have the most live sessions that may hold credits at once; end one first."
    ),
    HOLD_LIFETIME_EXCEEDED: (
        "A hold cannot last that long from its creation; capture this one and start another."
    ),
    PriorVerdict.KEY_REUSED.value: store.KEY_MESSAGES[PriorVerdict.KEY_REUSED],
    PriorVerdict.IN_PROGRESS.value: store.KEY_MESSAGES[PriorVerdict.IN_PROGRESS],
}
STATUSES = {
    INSUFFICIENT: 402,
    HOLD_EXPIRED: 409,
    HOLD_CLOSED: 409,
    AMOUNT_EXCEEDS_HOLD: 422,
    HOLD_TOO_LARGE: 422,
    TOO_MANY_HOLDS: 409,
    HOLD_LIFETIME_EXCEEDED: 409,
    PriorVerdict.KEY_REUSED.value: 409,
    PriorVerdict.IN_PROGRESS.value: 409,
}


class HoldNotFound(NotFound):
    code, message = "hold_not_found", "No such hold."


@dataclass(frozen=True)
class HoldOutcome:
    """`ok` with the hold's body (201 created or captured, 200 otherwise), or a refusal with
    `{"error", "code"}`. `replayed`: this call did nothing and repeats the first answer given
    under its Idempotency-Key."""

    http_status: int
    body: dict[str, Any]
    replayed: bool = False

    @property
    def ok(self) -> bool:
        return self.http_status < 400

    @property
    def code(self) -> str | None:
        """The refusal's machine code (insufficient_credits, hold_expired, ...); None if ok."""
        return None if self.ok else str(self.body["code"])

    @property
    def hold(self) -> HoldOut | None:
        return HoldOut.model_validate(self.body) if self.ok else None


def refusal(code: str) -> HoldOutcome:
    return HoldOutcome(STATUSES[code], {"error": MESSAGES[code], "code": code})


def answer(http_status: int, hold: HoldOut) -> HoldOutcome:
    # JSON-ready (ISO times, string ids): the same dict is answered and stored for replays.
    return HoldOutcome(http_status, hold.model_dump(mode="json", by_alias=True))
