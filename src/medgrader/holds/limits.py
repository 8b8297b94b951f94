"""The limits on a student's holds, from Settings: how many may be active at once
(HOLDS_MAX_ACTIVE_PER_STUDENT) and how long one may live from its creation
(HOLD_MAX_LIFETIME_SECONDS). The holds service enforces them in its SQL, under the student's
balance row lock, so two creations racing at the limit cannot both pass."""

from __future__ import annotations

from dataclasses import dataclass

from medgrader.config import Settings


@dataclass(frozen=True)
class HoldLimits:
    max_active: int
    max_lifetime_seconds: int

    @classmethod
    def of(cls, settings: Settings) -> HoldLimits:
        return cls(
            max_active=settings.holds_max_active_per_student,
            max_lifetime_seconds=settings.hold_max_lifetime_seconds,
        )
