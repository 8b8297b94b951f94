"""The promotions' audit checks, run by `medgrader audit` beside the ledger's (audit.checks).

No promotion has more live uses (RESERVED or REDEEMED) than its limit, nor a student more
than theirs; every COMPLETED session bought with a promotion has exactly one use of it, no
longer RESERVED; every PROMOTION_BONUS entry is the one grant of the use of a COMPLETED
purchase with its PURCHASE entry, for that use's student and credits (a credit code's entry
likewise is its use's one grant).
"""

from __future__ import annotations

PROMOTION_CHECKS: dict[str, str] = {
    "promotion_within_limits": """
        SELECT p.code AS subject,
               COUNT(r.id) || ' live uses, limit ' || p.max_redemptions AS detail
          FROM promotions p
          JOIN promotion_redemptions r
            ON r.promotion_id = p.id AND r.status IN ('RESERVED', 'REDEEMED')
         WHERE p.max_redemptions IS NOT NULL
         GROUP BY p.id
        HAVING COUNT(r.id) > p.max_redemptions
        UNION ALL
        SELECT p.code || ' / ' || r.student_id AS subject,
               COUNT(r.id) || ' live uses by one student, limit ' || p.max_per_student
          FROM promotions p
          JOIN promotion_redemptions r
            ON r.promotion_id = p.id AND r.status IN ('RESERVED', 'REDEEMED')
         GROUP BY p.id, r.student_id
        HAVING COUNT(r.id) > p.max_per_student
    """,
    "promoted_session_has_one_use": """
        SELECT c.stripe_session_id AS subject,
               'COMPLETED session with a promotion has ' || COUNT(r.id) || ' uses, '
               || COUNT(r.id) FILTER (WHERE r.status = 'RESERVED') || ' still reserved'
               AS detail
          FROM checkout_sessions c
          LEFT JOIN promotion_redemptions r ON r.checkout_session_id = c.id
         WHERE c.status = 'COMPLETED' AND c.promotion_id IS NOT NULL
         GROUP BY c.stripe_session_id
        HAVING COUNT(r.id) <> 1 OR COUNT(r.id) FILTER (WHERE r.status = 'RESERVED') > 0
    """,
    "promotion_grant_tied_to_its_use": """
        SELECT t.id::text AS subject,
               t.source_type || ' entry of ' || t.amount || ' for ' || COALESCE(t.source_id, '?')
               || ' does not match its use' AS detail
          FROM credit_transactions t
          LEFT JOIN promotion_redemptions r ON r.ledger_entry_id = t.id
          LEFT JOIN checkout_sessions c ON c.id = r.checkout_session_id
         WHERE t.source_type IN ('PROMOTION_BONUS', 'PROMOTION_CODE')
           AND (r.id IS NULL OR r.student_id <> t.student_id OR r.granted_credits <> t.amount
                OR t.entry_type <> 'CREDIT'
                OR (t.source_type = 'PROMOTION_BONUS'
                    AND (c.id IS NULL OR c.status <> 'COMPLETED'
                         OR c.stripe_session_id <> t.source_id
                         OR NOT EXISTS (SELECT 1 FROM credit_transactions b
                                         WHERE b.source_type = 'PURCHASE'
                                           AND b.source_id = c.stripe_session_id)))
                OR (t.source_type = 'PROMOTION_CODE' AND r.checkout_session_id IS NOT NULL))
    """,
}
