"""The subscriptions' audit checks, run by `medgrader audit` beside the ledger's (audit.checks).

Every paid subscription invoice we granted has exactly one SUBSCRIPTION entry of its credits
for its student, and one Payment of type SUBSCRIPTION of its amount for the same invoice; every
SUBSCRIPTION entry is such an invoice's grant; the period's lot terms follow the rule (expires
at the end of the invoice's period, worth what the invoice paid).

Each rollover (lots_rollover, migration 0018: the writer's SQL is the rule; these queries
restate it independently of the writer's functions, as subscriptions.rules does for the
tests): its ROLLOVER DEBIT took, as one ROLLOVER movement out of a subscription period's own
lot, min(free at expiry, the invoice's plan's rolloverMaxCredits) credits, where the free
credits at expiry are what rolled over plus what that lot's EXPIRY entry ("lot:<id>") wrote
off; the movement carries the floor rule's value share with the rollover taken right after
the credits that left before it; it happened at or after the lot's expiry and not for a
subscription canceled before then. Its ROLLOVER CREDIT (same source_id) made one PAID lot of
source ROLLOVER of the same credits, whose origin is that movement, worth its value, in its
currency, expiring after the period's lot. What the audit cannot see is the subscription's
state at that instant (ACTIVE, not cancelling): it is not kept.
"""

from __future__ import annotations

SUBSCRIPTION_CHECKS: dict[str, str] = {
    "subscription_invoice_has_one_grant": """
        SELECT i.stripe_invoice_id AS subject,
               'paid invoice of ' || i.credits || ' credits has ' || COUNT(t.id)
               || ' SUBSCRIPTION entries (' || COALESCE(SUM(t.amount), 0) || ' credits)'
               AS detail
          FROM subscription_invoices i
          LEFT JOIN credit_transactions t
            ON t.source_type = 'SUBSCRIPTION' AND t.source_id = i.stripe_invoice_id
           AND t.student_id = i.student_id AND t.entry_type = 'CREDIT'
         GROUP BY i.id
        HAVING COUNT(t.id) <> 1 OR SUM(t.amount) <> i.credits
    """,
    "subscription_grant_has_its_invoice": """
        SELECT t.id::text AS subject,
               'SUBSCRIPTION entry for ' || COALESCE(t.source_id, '?')
               || ' has no paid invoice of its student' AS detail
          FROM credit_transactions t
          LEFT JOIN subscription_invoices i
            ON i.stripe_invoice_id = t.source_id AND i.student_id = t.student_id
         WHERE t.source_type = 'SUBSCRIPTION' AND i.id IS NULL
    """,
    "subscription_invoice_has_its_payment": """
        SELECT i.stripe_invoice_id AS subject,
               'paid invoice of ' || i.amount_paid_pence || 'p has payment '
               || COALESCE(p.type || ' ' || p.amount_pence || 'p ' || p.credits || ' credits',
                           'none') AS detail
          FROM subscription_invoices i
          LEFT JOIN payments p ON p.id = i.payment_id
         WHERE p.id IS NULL OR p.type <> 'SUBSCRIPTION'
            OR p.stripe_invoice_id IS DISTINCT FROM i.stripe_invoice_id
            OR p.amount_pence <> i.amount_paid_pence OR p.credits <> i.credits
            OR p.student_id <> i.student_id
        UNION ALL
        SELECT p.id::text AS subject,
               'SUBSCRIPTION payment for ' || p.stripe_invoice_id || ' has no paid invoice'
          FROM payments p
          LEFT JOIN subscription_invoices i ON i.payment_id = p.id
         WHERE p.type = 'SUBSCRIPTION' AND i.id IS NULL
    """,
    "rollover_follows_the_rule": """
        WITH r AS (
            SELECT id, student_id, amount, source_id, created_at, substr(source_id, 5) AS lot
              FROM credit_transactions
             WHERE source_type = 'ROLLOVER' AND entry_type = 'DEBIT'
        ), mv AS (
            SELECT m.entry_id, COUNT(*) AS n, MIN(m.id) AS id, SUM(m.value_minor) AS value,
                   bool_or(m.lot_id::text <> r.lot OR m.kind <> 'ROLLOVER') AS elsewhere
              FROM lot_movements m JOIN r ON r.id = m.entry_id
             GROUP BY m.entry_id
        ), checked AS (
            SELECT r.*, mv.n, mv.value, mv.elsewhere, l.expires_at, l.amount AS lot_credits,
                   p.rollover_max_credits AS cap, s.canceled_at,
                   r.amount + (SELECT COALESCE(SUM(e.amount), 0) FROM credit_transactions e
                                WHERE e.source_type = 'EXPIRY' AND e.source_id = r.source_id
                                  AND e.student_id = r.student_id) AS free,
                   (l.value_minor * (b.out + r.amount)) / l.amount
                   - (l.value_minor * b.out) / l.amount AS share
              FROM r
              LEFT JOIN mv ON mv.entry_id = r.id
              LEFT JOIN credit_lots l ON l.id::text = r.lot AND l.student_id = r.student_id
               AND l.kind = 'PAID' AND l.source = 'SUBSCRIPTION'
              LEFT JOIN credit_transactions g ON g.id = l.entry_id AND g.entry_type = 'CREDIT'
               AND g.source_type = 'SUBSCRIPTION'
              LEFT JOIN subscription_invoices i
                ON i.stripe_invoice_id = g.source_id AND i.student_id = g.student_id
              LEFT JOIN subscriptions s ON s.id = i.subscription_id
              LEFT JOIN plans p ON p.id = i.plan_id
              LEFT JOIN LATERAL (
                  SELECT COALESCE(SUM(b.credits), 0)::bigint AS out FROM lot_movements b
                   WHERE b.lot_id = l.id AND b.id < mv.id) b ON true
        )
        SELECT id::text AS subject,
               'rolled ' || amount || ' of ' || free || ' free out of ' || source_id || ' (cap '
               || COALESCE(cap::text, 'none: not a period''s lot') || ') in '
               || COALESCE(n, 0) || ' movements worth ' || COALESCE(value::text, '?')
               || 'p (rule ' || COALESCE(share::text, '?') || 'p)'
               || CASE WHEN created_at < expires_at THEN ', before the lot expired' ELSE '' END
               || CASE WHEN canceled_at < expires_at THEN ', subscription canceled before'
                       ELSE '' END AS detail
          FROM checked
         WHERE cap IS NULL OR COALESCE(n, 0) <> 1 OR elsewhere
            OR amount <> LEAST(free, cap) OR value IS DISTINCT FROM share
            OR created_at < expires_at OR canceled_at < expires_at
    """,
    "rollover_lot_carries_its_movement": """
        SELECT c.id::text AS subject,
               'ROLLOVER credit of ' || c.amount || ' for ' || c.source_id || ': debit '
               || COALESCE(d.amount::text, 'none') || ', lot '
               || COALESCE(n.kind || ' ' || n.source || ' of ' || n.amount || ' worth '
                           || COALESCE(n.value_minor::text, '?') || 'p expiring '
                           || COALESCE(n.expires_at::text, 'never'), 'none')
               || ', movement ' || COALESCE(m.credits || ' worth ' || m.value_minor || 'p',
                                            'none') AS detail
          FROM credit_transactions c
          LEFT JOIN credit_transactions d
            ON d.source_type = 'ROLLOVER' AND d.entry_type = 'DEBIT'
           AND d.source_id = c.source_id AND d.student_id = c.student_id
          LEFT JOIN lot_movements m ON m.entry_id = d.id
          LEFT JOIN credit_lots l ON l.id = m.lot_id
          LEFT JOIN credit_lots n ON n.entry_id = c.id
         WHERE c.source_type = 'ROLLOVER' AND c.entry_type = 'CREDIT'
           AND (d.id IS NULL OR n.id IS NULL OR d.seq > c.seq OR d.amount <> c.amount
                OR n.amount <> c.amount OR n.kind <> 'PAID' OR n.source <> 'ROLLOVER'
                OR n.origin_movement_id IS DISTINCT FROM m.id OR m.credits <> c.amount
                OR n.value_minor IS DISTINCT FROM m.value_minor
                OR n.currency IS DISTINCT FROM l.currency
                OR n.expires_at IS NULL OR n.expires_at <= l.expires_at)
        UNION ALL
        SELECT d.id::text, 'ROLLOVER debit of ' || d.amount || ' for ' || d.source_id
               || ' has no ROLLOVER credit'
          FROM credit_transactions d
         WHERE d.source_type = 'ROLLOVER' AND d.entry_type = 'DEBIT'
           AND NOT EXISTS (SELECT 1 FROM credit_transactions c
                            WHERE c.source_type = 'ROLLOVER' AND c.entry_type = 'CREDIT'
                              AND c.source_id = d.source_id AND c.student_id = d.student_id)
        UNION ALL
        SELECT n.id::text, 'ROLLOVER lot made by a ' || t.source_type || ' entry'
          FROM credit_lots n JOIN credit_transactions t ON t.id = n.entry_id
         WHERE n.source = 'ROLLOVER' AND t.source_type NOT IN ('ROLLOVER', 'REFUND', 'DISPUTE')
    """,
    "subscription_lot_terms_follow_the_rule": """
        SELECT stripe_invoice_id AS subject,
               'expires ' || expires_at || ' (period ends ' || period_end || '), value '
               || value_pence || 'p of ' || amount_paid_pence || 'p paid' AS detail
          FROM subscription_invoices
         WHERE expires_at <> period_end OR value_pence <> amount_paid_pence
    """,
}
