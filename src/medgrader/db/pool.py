"""A psycopg pool that reconnects promptly once the database is back.

psycopg_pool retries a lost connection after 1 s, then 2, 4, 8 s... (doubling until its
reconnect timeout). After a database restart of a few seconds the next attempt could be many
seconds away while requests wait for a connection: the webhook path was measured serving again
~7 s after the database returned. Here the retry delay starts at 0.2 s and never exceeds 1 s,
so the pool serves again within about a second of the database accepting connections. A
connection attempt against a database that is down fails at once (connection refused), so the
faster retries cost next to nothing.
"""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool
from psycopg_pool.base import AttemptWithBackoff

MAX_RECONNECT_DELAY = 1.0


class CappedBackoff(AttemptWithBackoff):
    INITIAL_DELAY = 0.2
    DELAY_BACKOFF = 1.5

    def update_delay(self, now: float) -> None:
        super().update_delay(now)
        self.delay = min(self.delay, MAX_RECONNECT_DELAY)


class PromptReconnectPool(AsyncConnectionPool):
    async def _add_connection(
        self, attempt: AttemptWithBackoff | None, growing: bool = False
    ) -> None:
        # The first attempt of a reconnection arrives without a backoff state; later attempts
        # get back the one created here, so every delay of this reconnection is capped.
        if attempt is None:
            attempt = CappedBackoff(timeout=self.reconnect_timeout)
        await super()._add_connection(attempt, growing=growing)


def pool_usage(pool: AsyncConnectionPool) -> dict[str, int]:
    """Connections open, idle and in use right now, and the ceiling (for /health, /metrics)."""
    stats: dict[str, Any] = pool.get_stats()
    size, available = int(stats.get("pool_size", 0)), int(stats.get("pool_available", 0))
    return {
        "size": size,
        "available": available,
        "inUse": max(0, size - available),
        "max": int(stats.get("pool_max", 0)),
    }
