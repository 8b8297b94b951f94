"""Spending credits, the balance and the ledger history a student sees."""
