"""Reaching into the abuse-limit counters (security.limits) from tests."""

from __future__ import annotations

import itertools

import psycopg

from medgrader.security.limits import Bucket, Limit, bucket_key
from tests.conftest import JWT_SECRET

# One counter per process, here (tests/support is a package: imported once). It lived in
# tests/security/conftest.py, which pytest imports as `conftest` while the tests imported
# `tests.security.conftest`: two counters, and a test run alone got its fixture's address again.
_addresses = itertools.count(1)


def new_address() -> str:
    """A client address no other test of this process uses (a documentation range)."""
    n = next(_addresses)
    return f"198.51.{100 + n // 250}.{n % 250 + 1}"


def end_window(db: psycopg.Connection, name: str, subject: str, seconds: int) -> None:
    """Make one bucket's current window end now, as if its time had passed."""
    key = bucket_key(JWT_SECRET, Bucket(name, subject, Limit(1, seconds)))
    db.execute(
        "UPDATE rate_limits SET expires_at = now() - interval '1 second' WHERE key = %s", (key,)
    )


def end_resend_interval(db: psycopg.Connection, email: str, purpose: str = "signup") -> None:
    """As if OTP_RESEND_INTERVAL_SECONDS (60 by default) had passed since the last code."""
    end_window(db, f"{purpose}:email", email.lower(), 60)
