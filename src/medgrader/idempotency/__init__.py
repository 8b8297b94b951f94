"""Idempotency keys: a client-chosen key makes a retried money operation answer once."""
