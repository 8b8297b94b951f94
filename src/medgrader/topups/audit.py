"""The audit's checks of automatic top-up (invariant 13), run by `medgrader audit` with the
ledger's (audit.checks): a SUCCEEDED attempt has exactly one Payment and one TOP_UP entry, both
matching it; every TOP_UP entry and every top-up Payment has such an attempt."""

from __future__ import annotations

TOP_UP_CHECKS: dict[str, str] = {
    "succeeded_top_up_has_one_payment_and_entry": """
        SELECT a.id::text AS subject,
               'SUCCEEDED top-up attempt has ' || COUNT(DISTINCT p.id) || ' payments and '
               || COUNT(DISTINCT t.id) || ' TOP_UP entries' AS detail
          FROM auto_top_up_attempts a
          LEFT JOIN payments p ON p.top_up_attempt_id = a.id
          LEFT JOIN credit_transactions t
            ON t.source_type = 'TOP_UP' AND t.source_id = a.id::text
         WHERE a.status = 'SUCCEEDED'
         GROUP BY a.id
        HAVING COUNT(DISTINCT p.id) <> 1 OR COUNT(DISTINCT t.id) <> 1
    """,
    "top_up_entry_matches_attempt": """
        SELECT t.id::text AS subject,
               'TOP_UP entry for ' || COALESCE(t.source_id, '?') || ' of ' || t.amount
               || ' credits; attempt ' || COALESCE(a.status, 'missing') AS detail
          FROM credit_transactions t
          LEFT JOIN auto_top_up_attempts a ON a.id::text = t.source_id
         WHERE t.source_type = 'TOP_UP'
           AND (a.id IS NULL OR a.status <> 'SUCCEEDED' OR a.credits <> t.amount
                OR a.student_id <> t.student_id OR t.entry_type <> 'CREDIT')
    """,
    "top_up_payment_matches_attempt": """
        SELECT p.id::text AS subject,
               'top-up payment of ' || p.amount_pence || ' ' || p.currency || ' for attempt '
               || p.top_up_attempt_id || ' (' || COALESCE(a.status, 'missing') || ')' AS detail
          FROM payments p
          LEFT JOIN auto_top_up_attempts a ON a.id = p.top_up_attempt_id
         WHERE p.top_up_attempt_id IS NOT NULL
           AND (a.id IS NULL OR a.status <> 'SUCCEEDED' OR a.amount_pence <> p.amount_pence
                OR a.currency <> p.currency OR a.credits <> p.credits
                OR a.student_id <> p.student_id
                OR a.stripe_payment_intent_id IS DISTINCT FROM p.stripe_payment_intent_id)
    """,
}
