# ruff: noqa: S608 - the f-strings splice in only constant fragments (models.lots)
"""The lots' audit checks, run by `medgrader audit` beside the ledger's (audit.checks).

Each is one query returning (subject, detail) for every row that breaks the rule:
- a balance equals its lots' remainders minus its open debts;
- a lot's amount less its remainder is what its movements took; its `reserved` what its
  reservations hold; an ACTIVE hold's reservations are its amount, an ended hold has none;
- each DEBIT entry's movements (plus, for a clawback, its open debt) add up to its amount, all
  from lots of its student and of the kind its source says (as ledger_post's lots_apply:
  any other debit source is a USE; a ROLLOVER debit's are ROLLOVER, lots_rollover); each
  CREDIT entry's lots add up to its amount;
- each EXPIRY entry took exactly its amount from the lot its source_id names, and a lot past
  its expiry has nothing free left once the job has had time to run (two minutes);
- the value identity: a paid lot's movements carry exactly floor(V * out / amount) (value
  that rolled over left with its ROLLOVER movement and is the ROLLOVER lot's V: recognised +
  breakage + clawed back + rolled over + deferred = V). The rollover rule itself is checked by
  subscriptions.audit.
"""

from __future__ import annotations

from medgrader.models.lots import EXPIRY_SOURCE_PREFIX

# How long an expired lot may keep free credits before the audit calls it a finding: the job
# runs every minute (and every posting settles its student at once).
EXPIRY_GRACE = "INTERVAL '2 minutes'"

LOT_CHECKS: dict[str, str] = {
    "balance_equals_lot_remainders": """
        WITH lots AS (
            SELECT student_id, SUM(remaining) AS remaining FROM credit_lots GROUP BY student_id
        ), debts AS (
            SELECT student_id, SUM(remaining) AS owed FROM credit_debts GROUP BY student_id
        )
        SELECT p.user_id::text AS subject,
               'balance ' || p.credit_balance || ' but lots hold ' || COALESCE(l.remaining, 0)
               || ' less debts of ' || COALESCE(d.owed, 0) AS detail
          FROM student_profiles p
          LEFT JOIN lots l ON l.student_id = p.user_id
          LEFT JOIN debts d ON d.student_id = p.user_id
         WHERE p.credit_balance <> COALESCE(l.remaining, 0) - COALESCE(d.owed, 0)
    """,
    "lot_movements_match_lot": """
        WITH moved AS (
            SELECT lot_id, SUM(credits) AS credits FROM lot_movements GROUP BY lot_id
        ), held AS (
            SELECT lot_id, SUM(credits) AS credits FROM lot_reservations GROUP BY lot_id
        )
        SELECT l.id::text AS subject,
               'lot of ' || l.amount || ' has ' || l.remaining || ' left and ' || l.reserved
               || ' reserved; movements took ' || COALESCE(m.credits, 0)
               || ', reservations hold ' || COALESCE(h.credits, 0) AS detail
          FROM credit_lots l
          LEFT JOIN moved m ON m.lot_id = l.id
          LEFT JOIN held h ON h.lot_id = l.id
         WHERE l.amount - l.remaining <> COALESCE(m.credits, 0)
            OR l.reserved <> COALESCE(h.credits, 0)
    """,
    "reservations_match_active_holds": """
        SELECT h.id::text AS subject,
               h.status || ' hold of ' || h.amount || ' reserves '
               || COALESCE(SUM(r.credits), 0) || ' in lots' AS detail
          FROM credit_holds h
          LEFT JOIN lot_reservations r ON r.hold_id = h.id
          LEFT JOIN credit_lots l ON l.id = r.lot_id
         GROUP BY h.id
        HAVING COALESCE(SUM(r.credits), 0) <> CASE WHEN h.status = 'ACTIVE' THEN h.amount ELSE 0 END
            OR bool_or(l.student_id <> h.student_id)
    """,
    "debit_allocations_match_entry": """
        WITH moved AS (
            SELECT m.entry_id, SUM(m.credits) AS credits,
                   bool_or(l.student_id <> t.student_id
                           OR m.kind <> CASE t.source_type
                               WHEN 'ADMIN_ADJUSTMENT' THEN 'ADJUSTMENT' WHEN 'EXPIRY' THEN 'EXPIRY'
                               WHEN 'REFUND' THEN 'CLAWBACK' WHEN 'DISPUTE' THEN 'CLAWBACK'
                               WHEN 'ROLLOVER' THEN 'ROLLOVER' ELSE 'USE' END) AS wrong
              FROM lot_movements m
              JOIN credit_lots l ON l.id = m.lot_id
              JOIN credit_transactions t ON t.id = m.entry_id
             GROUP BY m.entry_id
        )
        SELECT t.id::text AS subject,
               t.source_type || ' debit of ' || t.amount || ': lots gave '
               || COALESCE(m.credits, 0) || ', open debt ' || COALESCE(d.remaining, 0)
               || CASE WHEN m.wrong THEN ' (a movement of another student or kind)' ELSE '' END
               AS detail
          FROM credit_transactions t
          LEFT JOIN moved m ON m.entry_id = t.id
          LEFT JOIN credit_debts d ON d.entry_id = t.id
         WHERE t.entry_type = 'DEBIT'
           AND (COALESCE(m.credits, 0) + COALESCE(d.remaining, 0) <> t.amount
                OR COALESCE(m.wrong, false))
    """,
    "credit_entry_has_its_lots": """
        SELECT t.id::text AS subject,
               t.source_type || ' credit of ' || t.amount || ' made lots of '
               || COALESCE(SUM(l.amount), 0) AS detail
          FROM credit_transactions t
          LEFT JOIN credit_lots l ON l.entry_id = t.id
         WHERE t.entry_type = 'CREDIT'
         GROUP BY t.id
        HAVING COALESCE(SUM(l.amount), 0) <> t.amount
            OR bool_or(l.student_id <> t.student_id)
    """,
    "expiry_entries_match_lots": f"""
        SELECT t.id::text AS subject,
               'EXPIRY of ' || t.amount || ' for ' || COALESCE(t.source_id, '?')
               || ': it took ' || COALESCE(SUM(m.credits), 0) || ' from that lot' AS detail
          FROM credit_transactions t
          LEFT JOIN lot_movements m
            ON m.entry_id = t.id AND m.kind = 'EXPIRY'
           AND '{EXPIRY_SOURCE_PREFIX}' || m.lot_id::text
               = split_part(t.source_id, ':', 1) || ':' || split_part(t.source_id, ':', 2)
         WHERE t.source_type = 'EXPIRY'
         GROUP BY t.id
        HAVING COALESCE(SUM(m.credits), 0) <> t.amount
    """,
    "expired_lot_has_nothing_free": f"""
        SELECT l.id::text AS subject,
               'lot expired at ' || l.expires_at || ' still has '
               || (l.remaining - l.reserved) || ' free credits' AS detail
          FROM credit_lots l
         WHERE l.remaining > l.reserved AND l.expires_at <= now() - {EXPIRY_GRACE}
    """,
    "paid_lot_value_identity": """
        SELECT l.id::text AS subject,
               'paid lot of ' || l.amount || ' credits worth ' || l.value_minor || ' '
               || l.currency || ': ' || (l.amount - l.remaining) || ' out should carry '
               || (l.value_minor * (l.amount - l.remaining)) / l.amount
               || ', its movements carry ' || COALESCE(SUM(m.value_minor), 0) AS detail
          FROM credit_lots l
          LEFT JOIN lot_movements m ON m.lot_id = l.id
         WHERE l.kind = 'PAID'
         GROUP BY l.id
        HAVING COALESCE(SUM(m.value_minor), 0)
               <> (l.value_minor * (l.amount - l.remaining)) / l.amount
            OR bool_or(m.id IS NOT NULL AND m.value_minor IS NULL)
    """,
}
