"""Opaque pagination cursors: the position after which the next page starts.

A cursor carries a few position values (a ledger seq; a time and an id) that the client hands
back unread. Anything that is not a cursor this API handed out is 400 `invalid_cursor`, on
every paginated endpoint. A keyset position (time, id) has one encoder and one decoder for
every list (`encode_position`, `decode_position`).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Any

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


async def seq_page(
    db: Any, statement: Any, params: dict[str, Any], *, cursor: str | None, limit: int
) -> tuple[list[Any], str | None]:
    """One page of a list ordered by seq DESC: `statement` takes :before_seq (NULL: the
    first page) and :limit (one row more is asked, to tell whether another page exists).
    Returns the page's rows and the next page's cursor (None on the last page)."""
    before_seq = decode_seq_cursor(cursor) if cursor else None
    bound = params | {"before_seq": before_seq, "limit": limit + 1}
    rows = list((await db.execute(statement, bound)).all())
    page = rows[:limit]
    return page, encode_seq_cursor(page[-1].seq) if len(rows) > limit else None


def encode_position(at: datetime, row_id: object) -> str:
    """A keyset position: a timestamp (with its time zone) and the row's id."""
    return encode_cursor(at.isoformat(), str(row_id))


def decode_position(cursor: str) -> tuple[datetime, str]:
    """The (timestamp, id) of a position cursor. The one decoder of every keyset list: a
    timestamp without a time zone is refused (it would compare against timestamptz in the
    server's zone, silently skipping or repeating rows)."""
    at, row_id = decode_cursor(cursor, 2)
    try:
        parsed = datetime.fromisoformat(at)
    except ValueError as exc:
        raise InvalidCursor() from exc
    if parsed.tzinfo is None:
        raise InvalidCursor()
    return parsed, row_id


def decode_uuid_position(cursor: str) -> tuple[datetime, uuid.UUID]:
    """A position cursor whose id is a UUID."""
    at, row_id = decode_position(cursor)
    try:
        return at, uuid.UUID(row_id)
    except ValueError as exc:
        raise InvalidCursor() from exc
