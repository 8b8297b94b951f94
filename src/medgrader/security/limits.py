"""Abuse limits: fixed-window counters in PostgreSQL, shared by every API process.

A request names the buckets it counts against (e.g. logins for this account and for this
client address). One statement counts the hit in all of them and returns their totals; if any
is over its limit the request is refused with 429 `rate_limited` and a Retry-After saying when
that window ends. The edge runs the hit as the first statement of the request's unit of work
and commits it before the work it limits (medgrader.db.transactions.external_call, or a refusal
that keeps its transaction), so a request that then fails (a wrong password) still counts.

Subjects (emails, addresses) are stored only as a keyed hash.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy import text

from medgrader.core.context import AppContext
from medgrader.core.errors import RateLimited
from medgrader.db.session import Db


@dataclass(frozen=True)
class Limit:
    hits: int
    seconds: int

    @classmethod
    def parse(cls, spec: str) -> Limit:
        """ "<hits>/<seconds>", as the settings spell it (validated there)."""
        hits, seconds = spec.split("/")
        return cls(int(hits), int(seconds))


@dataclass(frozen=True)
class Bucket:
    name: str  # what is limited, e.g. "login:account"
    subject: str  # whose, e.g. the email
    limit: Limit


_HIT = text(
    """
    INSERT INTO rate_limits AS r (key, hits, expires_at)
    SELECT k, 1, now() + make_interval(secs => w)
      FROM unnest(CAST(:keys AS text[]), CAST(:windows AS int[])) AS t(k, w)
    ON CONFLICT (key) DO UPDATE
       SET hits = CASE WHEN r.expires_at <= now() THEN 1 ELSE r.hits + 1 END,
           expires_at = CASE WHEN r.expires_at <= now() THEN EXCLUDED.expires_at
                             ELSE r.expires_at END
    RETURNING key, hits, ceil(extract(epoch FROM r.expires_at - now()))::int AS retry_after
    """
)

_PURGE = text("DELETE FROM rate_limits WHERE expires_at < now()")


def bucket_key(secret: str, bucket: Bucket) -> str:
    # The window is part of the key: a changed setting starts a fresh count, never a
    # confusing mix of two windows.
    digest = hmac.new(secret.encode(), bucket.subject.lower().encode(), hashlib.sha256)
    return f"{bucket.name}:{bucket.limit.seconds}:{digest.hexdigest()[:40]}"


async def hit(db: Db, ctx: AppContext, *buckets: Bucket, message: str | None = None) -> None:
    """Count one request against every bucket; RateLimited if any is now over its limit.

    The bucket rows stay locked until the transaction ends: the edge commits the hit before
    any slow work (see the module docstring).
    """
    if not buckets:
        return
    by_key = {bucket_key(ctx.tokens.secret, b): b for b in buckets}
    keys = sorted(by_key)  # one lock order for every caller: no deadlocks between buckets
    params = {"keys": keys, "windows": [by_key[k].limit.seconds for k in keys]}
    rows = (await db.execute(_HIT, params)).all()
    over = [row for row in rows if row.hits > by_key[row.key].limit.hits]
    if over:
        raise RateLimited(max(row.retry_after for row in over), message)


async def purge_expired(db: Db) -> int:
    return (await db.execute(_PURGE)).rowcount
