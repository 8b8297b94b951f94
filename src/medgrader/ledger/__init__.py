"""The credit ledger: the only code that changes a student's credit balance."""
