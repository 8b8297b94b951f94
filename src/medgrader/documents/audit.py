# ruff: noqa: S608 - the f-strings splice in only constants (the grace, the report's SQL)
"""The VAT documents' audit checks, run by `medgrader audit` beside the ledger's (audit.checks).

Invariant 12: every payment has one receipt (a payment younger than RECEIPT_GRACE may still be
waiting for its job; the sweep runs every five minutes); each series numbers 1..n with no gap,
its counter at n; each receipt's notes credit (credit notes less debit notes) between nothing
and the receipt, in total and in VAT; every refund seen succeeded and every dispute lost has
its credit note (same grace); and the VAT report's sums over all time equal the documents'.
"""

from __future__ import annotations

from medgrader.documents.repository import REPORT_SQL

RECEIPT_GRACE = "15 minutes"

DOCUMENT_CHECKS: dict[str, str] = {
    "one_receipt_per_payment": f"""
        SELECT p.id::text AS subject,
               'payment of ' || p.created_at || ' has ' || COUNT(d.id) || ' receipts' AS detail
          FROM payments p
          LEFT JOIN documents d ON d.payment_id = p.id AND d.type = 'RECEIPT'
         GROUP BY p.id
        HAVING COUNT(d.id) > 1
            OR (COUNT(d.id) = 0 AND p.created_at < now() - interval '{RECEIPT_GRACE}')
    """,
    "document_numbers_without_gaps": """
        WITH series AS (
            SELECT series, COUNT(*) AS issued, MAX(sequence) AS last, MIN(sequence) AS first
              FROM documents GROUP BY series
        )
        SELECT COALESCE(s.series, c.series) AS subject,
               COALESCE(s.issued, 0) || ' documents numbered ' || COALESCE(s.first, 0) || '..'
               || COALESCE(s.last, 0) || ', counter at ' || COALESCE(c.last_number, 0) AS detail
          FROM series s FULL JOIN document_counters c ON c.series = s.series
         WHERE COALESCE(s.issued, 0) <> COALESCE(s.last, 0)
            OR COALESCE(s.first, 1) <> 1
            OR COALESCE(c.last_number, 0) <> COALESCE(s.last, 0)
    """,
    "notes_within_receipt": """
        WITH notes AS (
            SELECT receipt_id,
                   SUM(CASE type WHEN 'DEBIT_NOTE' THEN -total_minor ELSE total_minor END) AS total,
                   SUM(CASE type WHEN 'DEBIT_NOTE' THEN -vat_minor ELSE vat_minor END) AS vat
              FROM documents WHERE type <> 'RECEIPT' GROUP BY receipt_id
        )
        SELECT r.number AS subject,
               'notes credit ' || n.total || ' (VAT ' || n.vat || ') of a receipt of '
               || r.total_minor || ' (VAT ' || r.vat_minor || ')' AS detail
          FROM notes n JOIN documents r ON r.id = n.receipt_id
         WHERE n.total NOT BETWEEN 0 AND r.total_minor
            OR n.vat NOT BETWEEN 0 AND r.vat_minor
            OR (n.total = r.total_minor AND n.vat <> r.vat_minor)
    """,
    "credit_note_per_return": f"""
        SELECT r.stripe_refund_id AS subject, 'refund seen succeeded at ' || r.succeeded_at
               || ' has no credit note' AS detail
          FROM refunds r
         WHERE r.succeeded_at < now() - interval '{RECEIPT_GRACE}'
           AND NOT EXISTS (SELECT 1 FROM documents d
                            WHERE d.refund_id = r.id AND d.type = 'CREDIT_NOTE')
        UNION ALL
        SELECT x.stripe_dispute_id, 'lost dispute has no credit note'
          FROM disputes x
         WHERE x.status = 'lost' AND x.updated_at < now() - interval '{RECEIPT_GRACE}'
           AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.dispute_id = x.id)
    """,
    "vat_report_equals_documents": f"""
        WITH span AS (
            SELECT (MIN(issued_at) AT TIME ZONE 'Europe/London')::date AS first,
                   (MAX(issued_at) AT TIME ZONE 'Europe/London')::date AS last
              FROM documents
        ), report AS (
            SELECT * FROM span, LATERAL ({
        REPORT_SQL.replace(":first", "span.first").replace(":last", "span.last")
    }) AS r
        ), plain AS (
            SELECT SUM(CASE type WHEN 'RECEIPT' THEN vat_minor WHEN 'CREDIT_NOTE' THEN -vat_minor
                                 ELSE vat_minor END) AS vat_due,
                   SUM(CASE type WHEN 'RECEIPT' THEN net_minor WHEN 'CREDIT_NOTE' THEN -net_minor
                                 ELSE net_minor END) AS net_sales,
                   COUNT(*) AS documents
              FROM documents
        )
        SELECT 'vat-report' AS subject,
               'report says VAT due ' || (report.sales_vat - report.notes_vat) || ', net '
               || (report.sales_net - report.notes_net) || ' over ' || report.documents
               || ' documents; the documents sum to ' || plain.vat_due || ', '
               || plain.net_sales || ' over ' || plain.documents AS detail
          FROM report, plain
         WHERE report.first IS NOT NULL
           AND (report.sales_vat - report.notes_vat <> plain.vat_due
                OR report.sales_net - report.notes_net <> plain.net_sales
                OR report.documents <> plain.documents)
    """,
}
