"""Fault injection for webhook deliveries, configured per endpoint.

Real Stripe delivers at least once, in no particular order, sometimes late; a
receiver must cope. These knobs make each of those behaviours happen on demand:

- ``duplicate_probability``: each event is delivered a second time (concurrently).
- ``shuffle_window``: hold N events, then deliver them in random order (a batch is
  also released ``shuffle_hold_ms`` after its first event, so nothing waits forever).
- ``delay_ms``: wait before each attempt.
- ``drop_first``: the first N attempts are never sent; they count as failures and
  are retried.
- ``timeout_first``: the first N attempts are sent, but their answers are discarded
  and recorded as timeouts, so they are retried although the receiver processed them.
- ``seed``: makes the random choices reproducible.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, fields
from typing import Any

from stripe_emulator.errors import StripeError


@dataclass
class Faults:
    duplicate_probability: float = 0.0
    shuffle_window: int = 0
    shuffle_hold_ms: int = 200
    delay_ms: int = 0
    drop_first: int = 0
    timeout_first: int = 0
    seed: int | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Faults:
        data = dict(body)
        # ``timeout`` is accepted as a shorter spelling of ``timeout_first``.
        if "timeout" in data:
            data["timeout_first"] = data.pop("timeout")
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise StripeError(f"Received unknown parameter: {key}", param=key)
        faults = cls(**data)
        faults.validate()
        return faults

    def validate(self) -> None:
        if not 0.0 <= float(self.duplicate_probability) <= 1.0:
            raise StripeError(
                "duplicate_probability must be between 0 and 1", param="duplicate_probability"
            )
        for name in (
            "shuffle_window",
            "shuffle_hold_ms",
            "delay_ms",
            "drop_first",
            "timeout_first",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise StripeError(f"{name} must be a non-negative integer", param=name)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultState:
    """Faults plus what they have consumed so far (drops and timeouts are counted)."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.rng = random.Random(faults.seed)  # noqa: S311 - simulation, not security
        self.dropped = 0
        self.timed_out = 0

    def roll_duplicate(self) -> bool:
        p = self.faults.duplicate_probability
        return p > 0 and self.rng.random() < p

    def take_drop(self) -> bool:
        if self.dropped < self.faults.drop_first:
            self.dropped += 1
            return True
        return False

    def take_timeout(self) -> bool:
        if self.timed_out < self.faults.timeout_first:
            self.timed_out += 1
            return True
        return False

    def as_dict(self) -> dict[str, Any]:
        return {**self.faults.as_dict(), "dropped": self.dropped, "timed_out": self.timed_out}
