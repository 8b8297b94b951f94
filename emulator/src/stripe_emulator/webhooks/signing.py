"""Stripe's webhook signature scheme.

``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<payload>">``; during a
secret roll Stripe signs with both secrets and sends two ``v1`` entries, and a
receiver accepts the request if any of them matches its secret.
"""

from __future__ import annotations

import hashlib
import hmac


def compute_signature(payload: str, secret: str, timestamp: int) -> str:
    message = f"{timestamp}.{payload}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(payload: str, secrets: list[str], timestamp: int) -> str:
    parts = [f"t={timestamp}"]
    parts += [f"v1={compute_signature(payload, secret, timestamp)}" for secret in secrets]
    return ",".join(parts)
