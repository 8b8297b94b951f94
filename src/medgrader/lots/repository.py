# ruff: noqa: S608 - the f-strings splice in only this module's constant fragments
"""The lots' read queries: a student's lots and balances by kind, what is due a reminder, and
the liability (what unspent credits are worth) at an instant.

A lot past its expiresAt holds nothing available from that instant on, whether or not its
EXPIRY entry is written yet: every reader here applies the cut itself (`_EXPIRED`), only the
credits a live hold reserved in it stay (they expire when the hold gives them back).
"""

from __future__ import annotations

from sqlalchemy import text

from medgrader.models.lots import EXPIRY_SOURCE_PREFIX

_EXPIRED = "(l.expires_at IS NOT NULL AND l.expires_at <= now())"
# What a lot holds now: all its remainder, or, past its expiry, only what a hold reserves.
_HOLDS_NOW = f"CASE WHEN {_EXPIRED} THEN l.reserved ELSE l.remaining END"
# A lot's status as its owner sees it (a period's lot whose leftover all rolled over reached
# its expiry with credits in it: EXPIRED, not CONSUMED).
STATUS = f"""CASE
    WHEN l.remaining > 0 AND NOT {_EXPIRED} THEN 'ACTIVE'
    WHEN {_EXPIRED} AND (l.remaining > 0
         OR EXISTS (SELECT 1 FROM lot_movements m
                     WHERE m.lot_id = l.id AND m.kind IN ('EXPIRY', 'ROLLOVER')))
         THEN 'EXPIRED'
    ELSE 'CONSUMED' END"""

# paid/granted: what the lots hold now, less the student's open debt. A debt stands only
# beside credits a live hold reserves (a clawback takes every free credit first, and new or
# returned credits pay debts at once, lots_pay_debts), so it will be paid by the credits that
# come free next. The rule: the debt is charged against the lots in the spend order, which is
# the order lots_pay_debts takes them when the holds give them back (lots past their expiry
# first: what returns to them pays debts before it expires). Each lot counts
# max(0, min(holds, running - owed)), `running` the spend-order running total of what the lots
# hold: paid + granted = balance whenever balance >= 0, both 0 below it. (If a capture or
# a new credit comes first, the debt lands elsewhere; the split may move, never the sum.)
# Readers settle the student first (credits.service.get_balances), so a lot past its expiry
# holds only what a live hold reserves in it.
BY_KIND = text(
    f"""
    WITH held AS (
        SELECT l.kind, {_HOLDS_NOW} AS credits,
               SUM({_HOLDS_NOW}) OVER (
                   ORDER BY l.priority, l.expires_at NULLS LAST, (l.kind = 'PAID'), l.seq
                   ROWS UNBOUNDED PRECEDING) AS running
          FROM credit_lots l
         WHERE l.student_id = :student_id AND l.remaining > 0
    ), owed AS (
        SELECT COALESCE(SUM(d.remaining), 0) AS owed FROM credit_debts d
         WHERE d.student_id = :student_id AND d.remaining > 0
    ), net AS (
        SELECT held.kind, GREATEST(0, LEAST(held.credits, held.running - owed.owed)) AS credits
          FROM held CROSS JOIN owed
    )
    SELECT COALESCE(SUM(credits) FILTER (WHERE kind = 'PAID'), 0) AS paid,
           COALESCE(SUM(credits) FILTER (WHERE kind = 'GRANTED'), 0) AS granted
      FROM net
    """
)

# The next expiries: free credits by instant, soonest first.
EXPIRING = text(
    f"""
    SELECT l.expires_at, SUM(l.remaining - l.reserved) AS amount
      FROM credit_lots l
     WHERE l.student_id = :student_id AND l.remaining > l.reserved
       AND l.expires_at IS NOT NULL AND NOT {_EXPIRED}
     GROUP BY l.expires_at
     ORDER BY l.expires_at
     LIMIT :limit
    """
)

_LOT_COLUMNS = f"""
    l.id, l.seq, l.kind, l.source, l.amount, l.remaining, l.reserved, l.priority,
    l.expires_at, l.created_at, l.value_minor, l.currency, {STATUS} AS status
"""

PAGE = text(
    f"""
    SELECT * FROM (
        SELECT {_LOT_COLUMNS} FROM credit_lots l
         WHERE l.student_id = :student_id
           AND (CAST(:before_seq AS BIGINT) IS NULL OR l.seq < CAST(:before_seq AS BIGINT))
    ) lots
     WHERE CAST(:status AS TEXT) IS NULL OR status = CAST(:status AS TEXT)
     ORDER BY seq DESC
     LIMIT :limit
    """
)

# Lots whose free credits (at least one) expire within :days and whose reminder is not sent
# (sent_notices holds "expiry:<lot id>" once it is). `rollover`: for a subscription period's
# lot whose subscription renews as things stand, how many of them may roll over at its expiry
# (the plan's rolloverMaxCredits; lots_rollover, migration 0018, decides at that instant).
DUE_REMINDERS = text(
    """
    SELECT l.id, l.student_id, l.remaining - l.reserved AS credits, l.expires_at,
           u.email, s.first_name,
           COALESCE((SELECT LEAST(p.rollover_max_credits, l.remaining - l.reserved)
                       FROM credit_transactions t
                       JOIN subscription_invoices i
                         ON i.stripe_invoice_id = t.source_id AND i.student_id = t.student_id
                       JOIN subscriptions b ON b.id = i.subscription_id
                       JOIN plans p ON p.id = i.plan_id
                      WHERE t.id = l.entry_id AND t.source_type = 'SUBSCRIPTION'
                        AND l.source = 'SUBSCRIPTION' AND b.status = 'ACTIVE'
                        AND NOT b.cancel_at_period_end), 0) AS rollover
      FROM credit_lots l
      JOIN users u ON u.id = l.student_id
      JOIN student_profiles s ON s.user_id = l.student_id
     WHERE l.remaining > l.reserved AND l.expires_at IS NOT NULL
       AND l.expires_at > now() AND l.expires_at <= now() + :days * INTERVAL '1 day'
       AND NOT EXISTS (SELECT 1 FROM sent_notices n WHERE n.key = 'expiry:' || l.id::text)
     ORDER BY l.expires_at
     LIMIT :limit
    """
)
REMINDER_KEY = "expiry:{}"

# At instant :at: credits each lot still held, its amount less the movements made by then, and
# for a paid lot the value still deferred: V - floor(V * out / amount), the lots' floor rule.
# A lot past its expiry at :at held only what a live hold reserved in it then (those credits
# cannot expire under it; they left it later, by the capture, the hold's own EXPIRY entry or a
# debt it paid): what was free had expired at the instant, even if the job wrote its EXPIRY
# entry ("lot:<id>") after :at, or has not yet (its free credits now).
LIABILITY = text(
    f"""
    WITH held AS (
        SELECT l.kind, l.amount, l.value_minor, l.currency,
               l.amount - COALESCE((
                   SELECT SUM(m.credits) FROM lot_movements m
                    WHERE m.lot_id = l.id AND m.created_at <= :at), 0)::bigint
               - CASE WHEN l.expires_at IS NOT NULL AND l.expires_at <= :at THEN
                     (l.remaining - l.reserved) + COALESCE((
                         SELECT SUM(m.credits) FROM lot_movements m
                           JOIN credit_transactions t ON t.id = m.entry_id
                          WHERE m.lot_id = l.id AND m.created_at > :at
                            AND t.source_type = 'EXPIRY'
                            AND t.source_id = '{EXPIRY_SOURCE_PREFIX}' || l.id::text), 0)::bigint
                 ELSE 0 END AS credits
          FROM credit_lots l
         WHERE l.created_at <= :at
    )
    SELECT COALESCE(SUM(credits) FILTER (WHERE kind = 'PAID'), 0) AS paid,
           COALESCE(SUM(credits) FILTER (WHERE kind = 'GRANTED'), 0) AS granted,
           COALESCE(SUM(value_minor - (value_minor * (amount - credits)) / amount)
                    FILTER (WHERE kind = 'PAID' AND currency = :currency), 0) AS deferred
      FROM held
    """
)

# The value that left paid lots in a range, by what took it: use (recognised revenue), expiry
# and admin removal (breakage), clawback.
VALUE_MOVED = """
    SELECT {group} COALESCE(SUM(value_minor) FILTER (WHERE kind = 'USE'), 0) AS recognised,
           COALESCE(SUM(value_minor) FILTER (WHERE kind IN ('EXPIRY', 'ADJUSTMENT')), 0)
               AS breakage
      FROM lot_movements
     WHERE value_minor IS NOT NULL AND created_at >= :start AND created_at < :end
"""
