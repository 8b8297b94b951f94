"""Looking at issued documents: rows, PDFs read back as text, attachments of emails."""

from __future__ import annotations

import io
from email.message import EmailMessage
from typing import Any

import psycopg
from pypdf import PdfReader


def documents(db: psycopg.Connection, payment_id: str | None = None) -> list[dict[str, Any]]:
    where, params = ("WHERE payment_id = %s", (payment_id,)) if payment_id else ("", ())
    cursor = db.execute(
        f"SELECT * FROM documents {where} ORDER BY series, sequence",
        params,
    )
    names = [c.name for c in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def pdf_text(pdf: bytes) -> str:
    assert pdf.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def pdf_attachments(message: EmailMessage) -> dict[str, bytes]:
    found = {}
    for part in message.iter_attachments():
        if part.get_content_type() == "application/pdf":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            found[part.get_filename() or ""] = payload
    return found


def assert_series_gap_free(db: psycopg.Connection) -> None:
    """Each series numbers 1..n, in the order of issue."""
    for series in ("RECEIPTS", "CREDIT_NOTES"):
        rows = db.execute(
            "SELECT sequence FROM documents WHERE series = %s ORDER BY issued_at, sequence",
            (series,),
        ).fetchall()
        assert [r[0] for r in rows] == list(range(1, len(rows) + 1)), series
