"""VAT documents: a receipt for every payment, a credit note for every refund that succeeded or
dispute lost, a debit note cancelling the credit note of a refund that failed afterwards; each
with a gap-free number, issued once, never changed (invariant 12)."""
