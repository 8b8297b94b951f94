"""Credit lots as students and the back office see them: balances by kind, expiries, the
lots list, the expiry job and its reminders, what unspent credits are worth, and the audit's
lot checks. The writer is the ledger (ledger.service); nothing here moves a credit."""
