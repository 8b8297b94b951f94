"""Development-only helpers (the demo's mailbox). Never enabled in production."""
