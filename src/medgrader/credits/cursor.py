"""Opaque pagination cursors: the position after which the next page starts."""

from __future__ import annotations

import base64
import binascii

from medgrader.core.errors import BadRequest

_PREFIX = "seq:"


class InvalidCursor(BadRequest):
    code, message = "invalid_cursor", "The cursor is not one this API handed out."


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The seq a cursor stands for; InvalidCursor (400) for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise InvalidCursor() from exc
    digits = raw.removeprefix(_PREFIX)
    if raw == digits or not digits.isdigit() or len(digits) > 18:
        raise InvalidCursor()
    return int(digits)
