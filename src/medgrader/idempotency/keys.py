"""The `Idempotency-Key` header and the request fingerprint stored with it."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import Any

from medgrader.idempotency.errors import IdempotencyKeyRequired, InvalidIdempotencyKey

MIN_KEY_LENGTH, MAX_KEY_LENGTH = 8, 255
# Visible ASCII only (0x21-0x7E): no spaces, no control characters, nothing that a proxy or a
# log line could mangle. A UUID v4 is the usual choice.
_KEY_PATTERN = re.compile(rf"[\x21-\x7e]{{{MIN_KEY_LENGTH},{MAX_KEY_LENGTH}}}")
# The same rule as the OpenAPI document publishes it (the app hands it to core.openapi).
KEY_SCHEMA = {
    "type": "string",
    "minLength": MIN_KEY_LENGTH,
    "maxLength": MAX_KEY_LENGTH,
    "pattern": f"^[!-~]{{{MIN_KEY_LENGTH},{MAX_KEY_LENGTH}}}$",
}


def validate_key(raw: str | None) -> str:
    """The key as given, or IdempotencyKeyRequired / InvalidIdempotencyKey (both 400)."""
    if raw is None or raw == "":
        raise IdempotencyKeyRequired()
    if not isinstance(raw, str) or _KEY_PATTERN.fullmatch(raw) is None:
        raise InvalidIdempotencyKey()
    return raw


def request_hash(payload: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of the validated request: same request, same hash."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def ledger_key(operation_tag: str, student_id: uuid.UUID, key: str) -> str:
    """The ledger entry's own UNIQUE idempotency key for an operation done under `key`.

    It outlives the key row (which retention deletes after 48 hours), so a key can never charge
    the same student twice, however late the retry. Short tags keep it within the column's
    300 characters: tag (<= 7) + ':' + uuid (36) + ':' + key (<= 255).
    """
    assert len(operation_tag) <= 7
    return f"{operation_tag}:{student_id}:{key}"
