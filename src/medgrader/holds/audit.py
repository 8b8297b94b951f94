# ruff: noqa: S608 - the f-strings splice in only constant fragments (models.holds)
"""The holds' audit checks, run by `medgrader audit` beside the ledger's (audit.checks).

Holds are not ledger entries, so the ledger checks still see every balance move. These add:
a CAPTURED hold has exactly one USAGE entry, of its captured amount, for its student, and no
other hold has any; a hold closed before its expiry (CAPTURED, RELEASED) or at it (EXPIRED);
and holds and spends never made an available balance negative: one below zero needs a
clawback (a refund or lost dispute) behind it. The held total itself is never stored, it is
always the sum of the ACTIVE, unexpired holds (models.holds.held_sql), so it cannot drift.
"""

from __future__ import annotations

from medgrader.ledger.rules import available
from medgrader.models.holds import CAPTURE_SOURCE_PREFIX, held_sql

HOLD_CHECKS: dict[str, str] = {
    "hold_captured_once": f"""
        SELECT h.id::text AS subject,
               h.status || ' hold of ' || h.amount || ' (captured '
               || COALESCE(h.captured_amount::text, 'none') || ') has ' || COUNT(t.id)
               || ' USAGE entries totalling ' || COALESCE(SUM(t.amount), 0) AS detail
          FROM credit_holds h
          LEFT JOIN credit_transactions t
            ON t.source_type = 'USAGE' AND t.source_id = '{CAPTURE_SOURCE_PREFIX}' || h.id::text
         GROUP BY h.id
        HAVING (h.status = 'CAPTURED'
                AND (COUNT(t.id) <> 1 OR SUM(t.amount) <> h.captured_amount
                     OR bool_or(t.student_id <> h.student_id OR t.entry_type <> 'DEBIT')))
            OR (h.status <> 'CAPTURED' AND COUNT(t.id) > 0)
    """,
    "capture_entry_has_hold": f"""
        SELECT t.id::text AS subject,
               'USAGE entry for ' || t.source_id || ' but no such hold' AS detail
          FROM credit_transactions t
          LEFT JOIN credit_holds h ON '{CAPTURE_SOURCE_PREFIX}' || h.id::text = t.source_id
         WHERE t.source_type = 'USAGE' AND t.source_id LIKE '{CAPTURE_SOURCE_PREFIX}%'
           AND h.id IS NULL
    """,
    "hold_closed_within_its_life": """
        SELECT id::text AS subject,
               status || ' hold closed at ' || closed_at || ', expiry ' || expires_at AS detail
          FROM credit_holds
         WHERE (status IN ('CAPTURED', 'RELEASED') AND closed_at >= expires_at)
            OR (status = 'EXPIRED' AND closed_at <> expires_at)
            OR expires_at <= created_at
    """,
    "available_negative_only_after_clawback": f"""
        SELECT p.user_id::text AS subject,
               'balance ' || p.credit_balance || ' minus held '
               || {held_sql("p.user_id")} || ' is negative with no clawback entry' AS detail
          FROM student_profiles p
         WHERE {available("p.credit_balance", "p.user_id")} < 0
           AND NOT EXISTS (SELECT 1 FROM credit_transactions t
                            WHERE t.student_id = p.user_id
                              AND t.source_type IN ('REFUND', 'DISPUTE'))
    """,
}
