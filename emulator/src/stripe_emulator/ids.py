"""Stripe-looking identifiers.

Real Stripe ids are a prefix plus random base62 characters. Tests and applications
only rely on the prefix (``cus_``, ``cs_test_``, ``pi_`` ...) and on uniqueness, so
that is all we promise.
"""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits

# Checkout Session ids are much longer than other ids on real Stripe
# (``cs_test_a1...`` is ~66 characters); mimic that so column sizes get exercised.
_LENGTHS: dict[str, int] = {"cs_test_": 58, "req_": 14, "whsec_": 32}


def random_chars(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_id(prefix: str, length: int | None = None) -> str:
    """A fresh id such as ``cus_QXg1o8vcGmoR32xXyZ12ab``."""
    return prefix + random_chars(length or _LENGTHS.get(prefix, 24))


def new_webhook_secret() -> str:
    return new_id("whsec_")
