"""The emulator's notion of "now".

Object timestamps (``created``, ``expires_at``) come from here so that tests can move
time forward (``POST /_emulator/clock``) to exercise expiry without waiting.
Webhook signatures deliberately use the real wall clock instead: receivers check the
signature timestamp against their own clock.
"""

from __future__ import annotations

import time


class Clock:
    def __init__(self) -> None:
        self.offset = 0

    def now(self) -> int:
        return int(time.time()) + self.offset

    def advance(self, seconds: int) -> int:
        self.offset += seconds
        return self.now()

    def reset(self) -> None:
        self.offset = 0
