"""Signed webhook delivery: signing, retries with back-off, fault injection, a log."""
