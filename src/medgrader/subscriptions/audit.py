"""The subscriptions' audit checks, run by `medgrader audit` beside the ledger's (audit.checks).

Every paid subscription invoice we granted has exactly one SUBSCRIPTION entry of its credits
for its student, and one Payment of type SUBSCRIPTION of its amount for the same invoice; every
SUBSCRIPTION entry is such an invoice's grant; the period's lot terms follow the rule (expires
at the end of the invoice's period, worth what the invoice paid). Rollover is not built yet
(it needs credit lots), so there is no rollover check.
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
    "subscription_lot_terms_follow_the_rule": """
        SELECT stripe_invoice_id AS subject,
               'expires ' || expires_at || ' (period ends ' || period_end || '), value '
               || value_pence || 'p of ' || amount_paid_pence || 'p paid' AS detail
          FROM subscription_invoices
         WHERE expires_at <> period_end OR value_pence <> amount_paid_pence
    """,
}
