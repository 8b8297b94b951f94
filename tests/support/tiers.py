"""The two test tiers: which one a test is in, and what differs between them."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import psycopg
import pytest

E2E = "e2e"


def is_e2e(node: pytest.Item | pytest.Collector) -> bool:
    return node.get_closest_marker(E2E) is not None


def wait_for_live_jobs(db: psycopg.Connection, timeout: float = 30.0) -> None:
    """End-to-end: wait until the app's worker has run every job that is due."""
    deadline = time.monotonic() + timeout
    while True:
        row = db.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing'"
            " OR (status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now()))"
        ).fetchone()
        if row is not None and row[0] == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{row[0] if row else '?'} job(s) still due after {timeout} s")
        time.sleep(0.05)


# The `new_client` and `new_async_client` fixtures' types.
NewClient = Callable[..., httpx.Client]
OpenHttp = Callable[..., httpx.AsyncClient]


# A money scenario that must also pass end to end: it runs twice, in-process and with real
# processes (the app under uvicorn, webhooks over HTTP, SMTP). Give the test a `tier: str`
# argument ("fast" or "e2e").
BOTH_TIERS = pytest.mark.parametrize("tier", ["fast", pytest.param("e2e", marks=pytest.mark.e2e)])
