"""Opaque pagination cursors: the position after which the next page starts.

A cursor carries a few position values (a ledger seq; a creation time and an id) that the
client hands back unread. Anything that is not a cursor this API handed out is 400
`invalid_cursor`, on every paginated endpoint.
"""

from __future__ import annotations

import base64
import binascii

from medgrader.core.errors import BadRequest

_SEPARATOR = "|"


class InvalidCursor(BadRequest):
    code, message = "invalid_cursor", "The cursor is not one this API handed out."


def encode_cursor(*parts: str | int) -> str:
    raw = _SEPARATOR.join(str(part) for part in parts)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, parts: int) -> list[str]:
    """The position values a cursor stands for (as text, `parts` of them); InvalidCursor
    for anything else. Callers parse each value and raise InvalidCursor if it does not parse."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise InvalidCursor() from exc
    values = raw.split(_SEPARATOR)
    if len(values) != parts or not all(values):
        raise InvalidCursor()
    return values


_SEQ = "seq"


def encode_seq_cursor(seq: int) -> str:
    """A cursor holding one ledger seq (tagged, so that no other cursor passes for one)."""
    return encode_cursor(_SEQ, seq)


def decode_seq_cursor(cursor: str) -> int:
    tag, digits = decode_cursor(cursor, 2)
    if tag != _SEQ or not digits.isdigit() or len(digits) > 18:
        raise InvalidCursor()
    return int(digits)
