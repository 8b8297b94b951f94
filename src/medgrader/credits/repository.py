"""Queries for a student's ledger history."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Row, select

from medgrader.db.session import Db
from medgrader.models.ledger import CreditTransaction

T = CreditTransaction


async def entries_page(
    db: Db,
    student_id: uuid.UUID,
    *,
    before_seq: int | None,
    limit: int,
    entry_types: Sequence[str] = (),
    source_types: Sequence[str] = (),
) -> Sequence[Row]:
    """Up to `limit` entries, newest first (by seq, which orders the balance chain)."""
    query = (
        select(
            T.id,
            T.seq,
            T.entry_type,
            T.amount,
            T.balance_after,
            T.source_type,
            T.source_id,
            T.description,
            T.created_at,
        )
        .where(T.student_id == student_id)
        .order_by(T.seq.desc())
        .limit(limit)
    )
    if before_seq is not None:
        query = query.where(T.seq < before_seq)
    if entry_types:
        query = query.where(T.entry_type.in_(list(entry_types)))
    if source_types:
        query = query.where(T.source_type.in_(list(source_types)))
    return (await db.execute(query)).all()
