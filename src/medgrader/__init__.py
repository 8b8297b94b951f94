"""MedGrader credits: prepaid credit packages bought through Stripe Checkout, kept in a ledger."""

__version__ = "0.1.0"
