# ruff: noqa: S608 - the f-strings splice in only the constant rule expressions (ledger.rules,
# payments.rules), never a value
"""Read-only consistency checks over the ledger: what `medgrader audit` prints.

Invariant 1: a balance equals the sum of its entries, and each entry's balanceAfter follows
from the one before it. Invariant 2: every COMPLETED checkout session has exactly one
PURCHASE entry and one Payment, and every PURCHASE entry belongs to a COMPLETED session.
Invariant 8: for every payment, the credits taken back equal min(C, ceil(C*R/A)) of its
recorded refunded and disputed amounts (R), the ledger's REFUND/DISPUTE entries for it add up
to exactly that, and the recorded amounts agree with the recorded refunds and disputes.
Invariant 13 (automatic top-up): topups.audit.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from medgrader.db.session import Db
from medgrader.documents.audit import DOCUMENT_CHECKS
from medgrader.holds.audit import HOLD_CHECKS
from medgrader.ledger.rules import signed_amount
from medgrader.lots.audit import LOT_CHECKS
from medgrader.payments.rules import counted_refund
from medgrader.promotions.audit import PROMOTION_CHECKS
from medgrader.subscriptions.audit import SUBSCRIPTION_CHECKS
from medgrader.topups.audit import TOP_UP_CHECKS


@dataclass(frozen=True)
class Finding:
    check: str
    subject: str
    detail: str


CHECKS: dict[str, str] = {
    "balance_equals_ledger_sum": f"""
        WITH sums AS (
            SELECT student_id,
                   SUM({signed_amount()}) AS total
              FROM credit_transactions
             GROUP BY student_id
        )
        SELECT p.user_id::text AS subject,
               'balance ' || p.credit_balance || ' but entries sum to '
               || COALESCE(s.total, 0) AS detail
          FROM student_profiles p
          LEFT JOIN sums s ON s.student_id = p.user_id
         WHERE p.credit_balance <> COALESCE(s.total, 0)
    """,
    "balance_after_chain": f"""
        WITH signed AS (
            SELECT id, student_id, seq, balance_after,
                   {signed_amount()} AS delta
              FROM credit_transactions
        ), chained AS (
            SELECT *, SUM(delta) OVER (PARTITION BY student_id ORDER BY seq) AS running
              FROM signed
        )
        SELECT id::text AS subject,
               'student ' || student_id || ' entry seq ' || seq || ' has balanceAfter '
               || balance_after || ', expected ' || running AS detail
          FROM chained
         WHERE balance_after <> running
    """,
    "completed_session_has_one_purchase": """
        SELECT c.stripe_session_id AS subject,
               'COMPLETED session has ' || COUNT(t.id) || ' PURCHASE entries' AS detail
          FROM checkout_sessions c
          LEFT JOIN credit_transactions t
            ON t.source_type = 'PURCHASE' AND t.source_id = c.stripe_session_id
         WHERE c.status = 'COMPLETED'
         GROUP BY c.stripe_session_id
        HAVING COUNT(t.id) <> 1
    """,
    "purchase_matches_session": """
        SELECT t.id::text AS subject,
               'PURCHASE entry for ' || COALESCE(t.source_id, '?') || ' of ' || t.amount
               || ' credits; session ' || COALESCE(c.status, 'missing')
               || ' with ' || COALESCE(c.credits::text, '?') || ' credits' AS detail
          FROM credit_transactions t
          LEFT JOIN checkout_sessions c ON c.stripe_session_id = t.source_id
         WHERE t.source_type = 'PURCHASE'
           AND (c.id IS NULL OR c.status <> 'COMPLETED' OR c.credits <> t.amount
                OR c.student_id <> t.student_id OR t.entry_type <> 'CREDIT')
    """,
    "completed_session_has_one_payment": """
        SELECT c.stripe_session_id AS subject,
               'COMPLETED session has ' || COUNT(p.id) || ' payments' AS detail
          FROM checkout_sessions c
          LEFT JOIN payments p ON p.checkout_session_id = c.id
         WHERE c.status = 'COMPLETED'
         GROUP BY c.stripe_session_id
        HAVING COUNT(p.id) <> 1
    """,
    "payment_matches_session": """
        SELECT p.id::text AS subject,
               'payment of ' || p.amount_pence || ' ' || p.currency || ' for session '
               || p.stripe_checkout_session_id || ' (' || COALESCE(c.status, 'missing') || ')'
               AS detail
          FROM payments p
          LEFT JOIN checkout_sessions c ON c.id = p.checkout_session_id
         WHERE p.type = 'CREDITS' AND p.top_up_attempt_id IS NULL
           AND (c.id IS NULL OR c.status <> 'COMPLETED' OR c.amount_pence <> p.amount_pence
                OR c.currency <> p.currency OR c.credits <> p.credits)
    """,
    "payment_clawback_follows_the_rule": f"""
        WITH taken AS (
            SELECT source_id,
                   -SUM({signed_amount()}) AS credits
              FROM credit_transactions
             WHERE source_type IN ('REFUND', 'DISPUTE') AND source_id IS NOT NULL
             GROUP BY source_id
        ), ruled AS (
            SELECT p.*, p.amount_refunded_pence + p.amount_disputed_pence AS returned,
                   LEAST(p.credits, CASE
                       WHEN p.amount_refunded_pence + p.amount_disputed_pence <= 0 THEN 0
                       ELSE (p.credits::bigint
                             * (p.amount_refunded_pence + p.amount_disputed_pence)
                             + p.amount_pence - 1) / p.amount_pence END) AS rule
              FROM payments p
        )
        SELECT r.id::text AS subject,
               r.credits || ' credits for ' || r.amount_pence || 'p, ' || r.returned
               || 'p returned: the rule takes back ' || r.rule || ', recorded '
               || r.credits_clawed_back || ', the ledger took ' || COALESCE(t.credits, 0)
               AS detail
          FROM ruled r
          LEFT JOIN taken t ON t.source_id = r.id::text
         WHERE r.rule <> r.credits_clawed_back OR COALESCE(t.credits, 0) <> r.credits_clawed_back
    """,
    "payment_returns_match_records": f"""
        WITH refunded AS (
            SELECT payment_id, SUM(amount_pence) AS pence FROM refunds
             WHERE {counted_refund()} GROUP BY payment_id
        ), disputed AS (
            SELECT payment_id, SUM(funds_withdrawn_pence) AS pence FROM disputes
             WHERE status <> 'won' GROUP BY payment_id
        )
        SELECT p.id::text AS subject,
               'payment records ' || p.amount_refunded_pence || 'p refunded and '
               || p.amount_disputed_pence || 'p disputed; its refunds say '
               || COALESCE(r.pence, 0) || 'p, its disputes ' || COALESCE(d.pence, 0) || 'p'
               AS detail
          FROM payments p
          LEFT JOIN refunded r ON r.payment_id = p.id
          LEFT JOIN disputed d ON d.payment_id = p.id
         WHERE p.amount_refunded_pence <> LEAST(COALESCE(r.pence, 0), p.amount_pence)
            OR p.amount_disputed_pence <> LEAST(COALESCE(d.pence, 0), p.amount_pence)
    """,
}

# The holds' checks live beside the holds (issue 10); they run with these, as do the
# promotions' (issue 18) and the subscriptions' (issue 19).
CHECKS.update(HOLD_CHECKS)
CHECKS.update(PROMOTION_CHECKS)
CHECKS.update(SUBSCRIPTION_CHECKS)  # issue 19
# The VAT documents' (invariant 12) live beside the documents.
CHECKS.update(DOCUMENT_CHECKS)
# And the lots' (issue 17): every credit traced from its lot to what took it.
CHECKS.update(LOT_CHECKS)
# Automatic top-up's (issue 20) live beside it.
CHECKS.update(TOP_UP_CHECKS)


_STATEMENTS = {check: text(query) for check, query in CHECKS.items()}


async def run_audit(db: Db) -> list[Finding]:
    findings: list[Finding] = []
    for check, statement in _STATEMENTS.items():
        result = await db.execute(statement)
        findings.extend(Finding(check, row.subject, row.detail) for row in result)
    return findings
