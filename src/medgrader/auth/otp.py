"""One-time sign-up codes: six random digits, kept only as a keyed hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def generate_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def hash_code(secret: str, email: str, code: str) -> str:
    # Keyed with the server secret and bound to the email: a leaked table does not reveal codes
    # by a million-guess lookup, and one email's hash is useless for another.
    message = f"{email.lower()}:{code}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def code_matches(secret: str, email: str, code: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_code(secret, email, code), stored_hash)
