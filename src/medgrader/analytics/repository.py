"""Revenue and activity figures in SQL: each figure is one aggregate over an indexed range.

Money is summed in integer pence. Days are Europe/London calendar days: the caller passes
their UTC bounds (a London day is 23, 24 or 25 hours long).
Refunds count when Stripe has them succeeded or pending (money on its way back); disputes
count the funds Stripe withdrew and has not reinstated (invariant 8's R).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, text

from medgrader.db.session import Db
from medgrader.lots.repository import VALUE_MOVED
from medgrader.payments.rules import counted_refund, open_dispute
from medgrader.webhooks.repository import STATUS_SQL as INBOX_STATUS

MONEY = text(
    f"""
    WITH p AS (
        SELECT COUNT(*) AS n, COALESCE(SUM(amount_pence), 0) AS pence
          FROM payments WHERE paid_at >= :start AND paid_at < :end
    ), r AS (
        SELECT COUNT(*) AS n, COALESCE(SUM(amount_pence), 0) AS pence
          FROM refunds
         WHERE {counted_refund()} AND created_at >= :start AND created_at < :end
    ), d AS (
        SELECT COUNT(*) AS n, COALESCE(SUM(funds_withdrawn_pence), 0) AS pence
          FROM disputes WHERE created_at >= :start AND created_at < :end
    ), v AS ({VALUE_MOVED.format(group="")})
    SELECT p.n AS payments, p.pence AS gross, r.n AS refund_count, r.pence AS refunds,
           d.n AS dispute_count, d.pence AS disputes, v.recognised, v.breakage
      FROM p, r, d, v
    """  # noqa: S608 - constant status lists only
)

# Promotions in a range: the discounts on the purchases paid in it (minor units), and the
# credits promotions granted in it (bonuses and credit codes).
PROMOTIONS = text(
    """
    SELECT (SELECT COALESCE(SUM(c.discount_pence), 0)
              FROM payments p JOIN checkout_sessions c ON c.id = p.checkout_session_id
             WHERE p.paid_at >= :start AND p.paid_at < :end) AS discounts,
           (SELECT COALESCE(SUM(amount), 0) FROM credit_transactions
             WHERE source_type IN ('PROMOTION_BONUS', 'PROMOTION_CODE')
               AND created_at >= :start AND created_at < :end) AS promotion_credits
    """
)

# Subscriptions: the range's invoice revenue and cancellations, and what is ACTIVE now with its
# prices normalised to a month (yearly ones summed, then / 12 rounded half up: integer pence).
SUBSCRIPTIONS = text(
    """
    SELECT (SELECT COALESCE(SUM(amount_pence), 0) FROM payments
             WHERE type = 'SUBSCRIPTION' AND paid_at >= :start AND paid_at < :end) AS revenue,
           (SELECT COUNT(*) FROM subscriptions
             WHERE status = 'CANCELED' AND stripe_subscription_id IS NOT NULL
               AND canceled_at >= :start AND canceled_at < :end) AS canceled,
           COUNT(s.id) AS active,
           COALESCE(SUM(p.price_pence) FILTER (WHERE p.interval = 'month'), 0)
           + (COALESCE(SUM(p.price_pence) FILTER (WHERE p.interval = 'year'), 0) * 2 + 12) / 24
           AS mrr
      FROM subscriptions s JOIN plans p ON p.id = s.plan_id
     WHERE s.status = 'ACTIVE'
    """
)

CHECKOUTS = text(
    """
    SELECT COUNT(*) AS created,
           COUNT(*) FILTER (WHERE status = 'COMPLETED') AS completed,
           COUNT(*) FILTER (WHERE status = 'EXPIRED') AS expired,
           COUNT(*) FILTER (WHERE status = 'FAILED') AS failed,
           COUNT(*) FILTER (WHERE status = 'PENDING') AS pending
      FROM checkout_sessions WHERE created_at >= :start AND created_at < :end
    """
)

BY_PACKAGE = text(
    """
    SELECT package_name, COUNT(*) AS payments, SUM(amount_pence) AS revenue,
           SUM(credits) AS credits
      FROM payments WHERE paid_at >= :start AND paid_at < :end
     GROUP BY package_name
     ORDER BY revenue DESC, package_name
    """
)

# Not bound to a range: what students hold now, and what waits for a person.
STANDING = text(
    f"""
    WITH balances AS (
        SELECT COALESCE(SUM(credit_balance) FILTER (WHERE credit_balance > 0), 0) AS held,
               COUNT(*) FILTER (WHERE credit_balance < 0) AS negative
          FROM student_profiles
    ), bought AS (
        SELECT COALESCE(SUM(amount_pence), 0) AS pence, COALESCE(SUM(credits), 0) AS credits
          FROM payments
    ), open_disputes AS (
        SELECT COUNT(*) AS n, COALESCE(SUM(amount_pence), 0) AS pence
          FROM disputes WHERE {open_dispute()}
    ), inbox AS (
        SELECT COUNT(*) FILTER (WHERE status = 'unprocessed') AS unprocessed,
               COUNT(*) FILTER (WHERE status = 'failed') AS failed,
               COUNT(*) FILTER (WHERE status = 'unhandled') AS unhandled
          FROM (SELECT {INBOX_STATUS} AS status FROM webhook_events
                 WHERE processed_at IS NULL) AS waiting
    )
    SELECT balances.held, balances.negative, bought.pence AS bought_pence,
           bought.credits AS bought_credits, open_disputes.n AS open_disputes,
           open_disputes.pence AS open_dispute_pence, inbox.unprocessed, inbox.failed,
           inbox.unhandled
      FROM balances, bought, open_disputes, inbox
    """  # noqa: S608 - constant status lists and expressions only
)

# Each row goes to its London day by a binary search over the days' UTC starts
# (width_bucket): measured 2.4x faster than converting every row with AT TIME ZONE.
_BUCKET = "width_bucket({column}, CAST(:bounds AS timestamptz[]))"
DAILY = text(
    f"""
    WITH p AS (
        SELECT {_BUCKET.format(column="paid_at")} AS bucket, COUNT(*) AS n,
               SUM(amount_pence) AS pence
          FROM payments WHERE paid_at >= :start AND paid_at < :end GROUP BY 1
    ), r AS (
        SELECT {_BUCKET.format(column="created_at")} AS bucket, SUM(amount_pence) AS pence
          FROM refunds
         WHERE {counted_refund()} AND created_at >= :start AND created_at < :end
         GROUP BY 1
    ), d AS (
        SELECT {_BUCKET.format(column="created_at")} AS bucket,
               SUM(funds_withdrawn_pence) AS pence
          FROM disputes WHERE created_at >= :start AND created_at < :end GROUP BY 1
    ), pr AS (
        SELECT {_BUCKET.format(column="p.paid_at")} AS bucket,
               SUM(c.discount_pence) AS discounts
          FROM payments p JOIN checkout_sessions c ON c.id = p.checkout_session_id
         WHERE p.paid_at >= :start AND p.paid_at < :end AND c.discount_pence > 0 GROUP BY 1
    ), g AS (
        SELECT {_BUCKET.format(column="created_at")} AS bucket, SUM(amount) AS credits
          FROM credit_transactions
         WHERE source_type IN ('PROMOTION_BONUS', 'PROMOTION_CODE')
           AND created_at >= :start AND created_at < :end GROUP BY 1
    ), sr AS (
        SELECT {_BUCKET.format(column="paid_at")} AS bucket, SUM(amount_pence) AS pence
          FROM payments
         WHERE type = 'SUBSCRIPTION' AND paid_at >= :start AND paid_at < :end GROUP BY 1
    ), v AS (
        {VALUE_MOVED.format(group=_BUCKET.format(column="created_at") + " AS bucket,")}
         GROUP BY 1
    ), c AS (
        SELECT {_BUCKET.format(column="created_at")} AS bucket, COUNT(*) AS created,
               COUNT(*) FILTER (WHERE status = 'COMPLETED') AS completed
          FROM checkout_sessions WHERE created_at >= :start AND created_at < :end GROUP BY 1
    )
    SELECT i AS bucket, COALESCE(p.n, 0) AS payments, COALESCE(p.pence, 0) AS gross,
           COALESCE(r.pence, 0) AS refunds, COALESCE(d.pence, 0) AS disputes,
           COALESCE(v.recognised, 0) AS recognised, COALESCE(v.breakage, 0) AS breakage,
           COALESCE(c.created, 0) AS checkouts_created,
           COALESCE(c.completed, 0) AS checkouts_completed,
           COALESCE(pr.discounts, 0) AS discounts, COALESCE(g.credits, 0) AS promotion_credits,
           COALESCE(sr.pence, 0) AS subscription_revenue
      FROM generate_series(1, :days) AS i
      LEFT JOIN p ON p.bucket = i
      LEFT JOIN r ON r.bucket = i
      LEFT JOIN d ON d.bucket = i
      LEFT JOIN v ON v.bucket = i
      LEFT JOIN c ON c.bucket = i
      LEFT JOIN pr ON pr.bucket = i
      LEFT JOIN g ON g.bucket = i
      LEFT JOIN sr ON sr.bucket = i
     ORDER BY i
    """  # noqa: S608 - constant SQL only
)


def _bounds(start: datetime, end: datetime) -> dict[str, Any]:
    return {"start": start, "end": end}


async def money(db: Db, start: datetime, end: datetime) -> Row[Any]:
    return (await db.execute(MONEY, _bounds(start, end))).one()


async def promotions(db: Db, start: datetime, end: datetime) -> Row[Any]:
    return (await db.execute(PROMOTIONS, _bounds(start, end))).one()


async def subscriptions(db: Db, start: datetime, end: datetime) -> Row[Any]:
    return (await db.execute(SUBSCRIPTIONS, _bounds(start, end))).one()


async def checkouts(db: Db, start: datetime, end: datetime) -> Row[Any]:
    return (await db.execute(CHECKOUTS, _bounds(start, end))).one()


async def by_package(db: Db, start: datetime, end: datetime) -> list[Row[Any]]:
    return list(await db.execute(BY_PACKAGE, _bounds(start, end)))


async def standing(db: Db, handled: Sequence[str]) -> Row[Any]:
    """`handled`: the webhook types with a handler (webhooks.service.handled_types)."""
    return (await db.execute(STANDING, {"handled": list(handled)})).one()


async def daily(db: Db, day_starts: list[datetime]) -> list[Row[Any]]:
    """One row per day (`bucket` 1..n) for the UTC starts of n days followed by the end of
    the last one."""
    params = {
        "bounds": day_starts,
        "days": len(day_starts) - 1,
        **_bounds(day_starts[0], day_starts[-1]),
    }
    return list(await db.execute(DAILY, params))
