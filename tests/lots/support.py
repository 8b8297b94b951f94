"""Looking at a student's lots, movements and debts, and posting through the one writer."""

from __future__ import annotations

import importlib.util
import uuid
from datetime import datetime
from importlib import resources
from typing import Any

import psycopg
from psycopg.rows import dict_row

from medgrader.ledger import service as ledger
from medgrader.models.ledger import SourceType
from medgrader.models.lots import LotKind
from tests.support.services import ServiceRunner


def lots(db: psycopg.Connection, student_id: str) -> list[dict[str, Any]]:
    """The student's lots, oldest first."""
    with db.cursor(row_factory=dict_row) as cursor:
        return cursor.execute(
            """SELECT id, entry_id, kind, source, amount, remaining, reserved, priority, expires_at,
                      value_minor, currency
                 FROM credit_lots WHERE student_id = %s ORDER BY seq""",
            (student_id,),
        ).fetchall()


def movements(db: psycopg.Connection, entry_id: uuid.UUID | str) -> list[tuple[str, int, Any]]:
    """(lot id, credits, value) of the entry's movements, in the order they were made."""
    rows = db.execute(
        "SELECT lot_id, credits, value_minor FROM lot_movements WHERE entry_id = %s ORDER BY id",
        (str(entry_id),),
    ).fetchall()
    return [(str(r[0]), int(r[1]), r[2]) for r in rows]


def debt(db: psycopg.Connection, student_id: str) -> int:
    row = db.execute(
        "SELECT COALESCE(SUM(remaining), 0) FROM credit_debts WHERE student_id = %s",
        (student_id,),
    ).fetchone()
    assert row is not None
    return int(row[0])


def grant(
    services: ServiceRunner,
    student_id: str,
    amount: int,
    *,
    expires_at: datetime | None = None,
    priority: int = 50,
    value_minor: int | None = None,
) -> uuid.UUID:
    """Credit `amount` as a lot of its own (paid when a value is given); the entry's id."""

    async def post(session: Any, _: Any) -> uuid.UUID:
        entry = await ledger.credit(
            session,
            student_id=uuid.UUID(student_id),
            amount=amount,
            source_type=SourceType.ADMIN_ADJUSTMENT,
            description="test grant",
            expires_at=expires_at,
            priority=priority,
            kind=LotKind.PAID if value_minor is not None else None,
            value_minor=value_minor,
            currency="GBP" if value_minor is not None else None,
        )
        return entry.id

    return services.in_transaction(post)


def spend(services: ServiceRunner, student_id: str, amount: int) -> uuid.UUID | None:
    """A USAGE debit through the ledger; its entry id, None when not covered."""

    async def post(session: Any, _: Any) -> uuid.UUID | None:
        entry = await ledger.debit(
            session,
            student_id=uuid.UUID(student_id),
            amount=amount,
            source_type=SourceType.USAGE,
            description="test spend",
        )
        return entry.id if entry else None

    return services.in_transaction(post)


def clawback(services: ServiceRunner, student_id: str, amount: int) -> None:
    """A REFUND clawback of no purchase (no own lot): the lots in the spend order, then debt."""
    services.in_transaction(
        lambda session, _: ledger.clawback(
            session,
            student_id=uuid.UUID(student_id),
            amount=amount,
            source_type=SourceType.REFUND,
            description="test clawback",
        )
    )


def expire_lot(db: psycopg.Connection, entry: Any, *, ago: str = "1 second") -> str:
    """The controllable clock: the lot of `entry` reached its expiry `ago`."""
    row = db.execute(
        f"UPDATE credit_lots SET expires_at = now() - interval '{ago}' WHERE entry_id = %s"
        " RETURNING id",
        (str(entry),),
    ).fetchone()
    assert row is not None
    return str(row[0])


def expiries(db: psycopg.Connection, student_id: str) -> list[tuple[str, int]]:
    rows = db.execute(
        "SELECT source_id, amount FROM credit_transactions"
        " WHERE student_id = %s AND source_type = 'EXPIRY' ORDER BY seq",
        (student_id,),
    ).fetchall()
    return [(str(r[0]), int(r[1])) for r in rows]


def load_migration(file: str) -> Any:
    """A migration's module (versions/<file>), for a test that runs its SQL or its
    downgrade's restore text."""
    path = resources.files("medgrader.migrations") / "versions" / file
    spec = importlib.util.spec_from_file_location(f"migration_{file[:4]}", str(path))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
