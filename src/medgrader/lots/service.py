"""Lots for readers: a student's balance by kind and next expiries, their lots page, the
liability at an instant, and the expiry reminders due. Nothing here moves a credit (the
ledger does, ledger.service); every figure applies the expiry cut at the database's clock."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from medgrader.core.cursor import seq_page
from medgrader.core.errors import Unprocessable
from medgrader.db.session import Db
from medgrader.lots import repository as sql
from medgrader.lots.schemas import LOT_STATUSES, CreditLiability, Expiring, LotOut, LotPage

EXPIRING_SHOWN = 3


@dataclass(frozen=True)
class Kinds:
    """What a student's lots hold now by kind, less their open debt (lots.repository.BY_KIND:
    paid + granted = balance when it is zero or more, once the student is settled)."""

    paid: int
    granted: int
    expiring: list[Expiring]


async def by_kind(db: Db, student_id: uuid.UUID) -> Kinds:
    params = {"student_id": student_id}
    row = (await db.execute(sql.BY_KIND, params)).one()
    soon = await db.execute(sql.EXPIRING, params | {"limit": EXPIRING_SHOWN})
    return Kinds(
        paid=int(row.paid),
        granted=int(row.granted),
        expiring=[Expiring(amount=int(r.amount), expires_at=r.expires_at) for r in soon],
    )


def _lot_out(row: Any) -> LotOut:
    return LotOut(
        id=row.id,
        kind=row.kind,
        source=row.source,
        status=row.status,
        amount=row.amount,
        remaining=row.remaining,
        expires_at=row.expires_at,
        created_at=row.created_at,
        value_minor=row.value_minor,
        currency=row.currency,
    )


async def list_lots(
    db: Db, student_id: uuid.UUID, *, status: str | None, limit: int, cursor: str | None
) -> LotPage:
    """The student's own lots, newest first, optionally of one status."""
    if status is not None:
        status = status.strip().upper()
        if status not in LOT_STATUSES:
            raise Unprocessable(f"status: one of {', '.join(s.lower() for s in LOT_STATUSES)}")
    params = {"student_id": student_id, "status": status}
    page, next_cursor = await seq_page(db, sql.PAGE, params, cursor=cursor, limit=limit)
    return LotPage(items=[_lot_out(row) for row in page], next_cursor=next_cursor)


async def liability(db: Db, at: datetime, currency: str = "GBP") -> CreditLiability:
    """Credits outstanding by kind and the deferred revenue at instant `at`."""
    row = (await db.execute(sql.LIABILITY, {"at": at, "currency": currency})).one()
    return CreditLiability(
        at=at,
        paid_credits_outstanding=int(row.paid),
        granted_credits_outstanding=int(row.granted),
        deferred_revenue=int(row.deferred),
    )


async def lots_of(db: Db, student_id: uuid.UUID, *, limit: int = 100) -> list[LotOut]:
    """A student's lots for the back office (newest first)."""
    return (await list_lots(db, student_id, status=None, limit=limit, cursor=None)).items


async def due_reminders(db: Db, *, days: int, limit: int = 100) -> list[Any]:
    """Lots whose free credits expire within `days` and whose reminder is not yet sent."""
    return list((await db.execute(sql.DUE_REMINDERS, {"days": days, "limit": limit})).all())
