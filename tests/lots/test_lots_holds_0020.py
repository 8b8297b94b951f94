"""Migration 0020 made the holds' lot work faster without changing what it does: one scenario
(reservations over three lots, an extension, a clawback's debt, a lot that expires under a
hold, a capture or a release) runs through 0020's functions and then, in the same rolled-back
transaction, through 0013's (the text 0020's downgrade restores); every lot, movement,
reservation, debt and ledger entry comes out the same, ids aside."""

from __future__ import annotations

import re
import uuid
from typing import Any

import psycopg
import pytest

from tests.credits.factory import make_student
from tests.ledger.test_ledger_audit_checks import _findings, scratch
from tests.lots.support import load_migration
from tests.support.services import ServiceRunner

__all__ = ["scratch"]


def _post(conn: psycopg.Connection, student: str, delta: int, source: str, **lot: Any) -> None:
    """An entry through ledger_post: a credit's lot (kind, priority, expiry, value) or a
    debit's movements (`hold`: a capture's)."""
    conn.execute(
        """
        SELECT ledger_post(
            %(student)s, CASE WHEN %(delta)s > 0 THEN 'CREDIT' ELSE 'DEBIT' END, abs(%(delta)s),
            %(delta)s, true, %(source)s, %(source_id)s, 'holds 0020 test', '{}'::jsonb, NULL,
            NULL, %(kind)s, %(source)s, %(expires)s::timestamptz, %(priority)s,
            %(value)s::bigint, CASE WHEN %(value)s::bigint IS NOT NULL THEN 'GBP' END,
            %(hold)s::uuid)
        """,
        {
            "student": student,
            "delta": delta,
            "source": source,
            "source_id": lot.get("source_id"),
            "kind": "PAID" if lot.get("value") is not None else "GRANTED",
            "expires": lot.get("expires"),
            "priority": lot.get("priority", 50),
            "value": lot.get("value"),
            "hold": lot.get("hold"),
        },
    )


def _hold(conn: psycopg.Connection, student: str, amount: int) -> str:
    row = conn.execute(
        """
        INSERT INTO credit_holds (student_id, amount, reason, ttl_seconds, expires_at)
        VALUES (%s, %s, 'holds 0020 test', 900, now() + interval '15 minutes')
        RETURNING id::text
        """,
        (student, amount),
    ).fetchone()
    assert row is not None
    conn.execute("SELECT lots_sync_hold(%s)", (row[0],))
    return str(row[0])


def _scenario(conn: psycopg.Connection, student: str, capture: int | None) -> dict[str, Any]:
    conn.execute("SELECT lots_settle(%s)", (student,))
    _post(conn, student, 10, "ADMIN_ADJUSTMENT", expires="2999-01-01T00:00:00Z")  # A
    _post(conn, student, 10, "ADMIN_ADJUSTMENT", value=1000)  # B: paid, never expires
    _post(conn, student, 5, "ADMIN_ADJUSTMENT", priority=10)  # C: first in the spend order
    first = _hold(conn, student, 12)  # C 5, A 7
    conn.execute("UPDATE credit_holds SET amount = amount + 6 WHERE id = %s", (first,))
    conn.execute("SELECT lots_sync_hold(%s)", (first,))  # A 3, B 3
    second = _hold(conn, student, 4)  # B 4
    _post(conn, student, -10, "REFUND", source_id=str(uuid.uuid4()))  # B's 3 free, a debt of 7
    # A expires under the first hold (its credits stay reserved: no EXPIRY for them yet).
    conn.execute(
        "UPDATE credit_lots SET expires_at = now() WHERE student_id = %s"
        " AND expires_at = '2999-01-01T00:00:00Z'",
        (student,),
    )
    conn.execute("SELECT lots_settle(%s)", (student,))
    if capture:  # C 5 and A (expired, still its) first; what comes back pays the debt
        conn.execute(
            "UPDATE credit_holds SET status = 'CAPTURED', captured_amount = %s,"
            " closed_at = now() WHERE id = %s",
            (capture, first),
        )
        _post(conn, student, -capture, "USAGE", source_id=f"hold:{first}", hold=first)
    else:  # a release: all of it back
        conn.execute(
            "UPDATE credit_holds SET status = 'RELEASED', closed_at = now() WHERE id = %s",
            (first,),
        )
        conn.execute("SELECT lots_sync_hold(%s)", (first,))
    conn.execute(
        "UPDATE credit_holds SET status = 'RELEASED', closed_at = now() WHERE id = %s", (second,)
    )
    conn.execute("SELECT lots_sync_hold(%s)", (second,))
    return _state(conn, student, {first: "first", second: "second"})


def _state(conn: psycopg.Connection, student: str, holds: dict[str, str]) -> dict[str, Any]:
    lots = conn.execute(
        "SELECT id::text, amount, remaining, reserved, swept, value_minor FROM credit_lots"
        " WHERE student_id = %s ORDER BY seq",
        (student,),
    ).fetchall()
    names = {lot[0]: f"lot{n}" for n, lot in enumerate(lots)} | holds

    def plain(text: str | None) -> str | None:
        if text is None:
            return None
        return re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", lambda m: names.get(m.group(0), "?"), text)

    entries = conn.execute(
        "SELECT id::text, entry_type, source_type, amount, balance_after, source_id"
        " FROM credit_transactions WHERE student_id = %s ORDER BY seq",
        (student,),
    ).fetchall()
    names |= {entry[0]: f"entry{n}" for n, entry in enumerate(entries)}
    movements = conn.execute(
        "SELECT m.lot_id::text, m.entry_id::text, m.kind, m.credits, m.value_minor"
        " FROM lot_movements m JOIN credit_lots l ON l.id = m.lot_id"
        " WHERE l.student_id = %s ORDER BY m.id",
        (student,),
    ).fetchall()
    return {
        "lots": [(names[i], *rest) for i, *rest in lots],
        "entries": [(names[i], *rest[:-1], plain(rest[-1])) for i, *rest in entries],
        "movements": [(names[lot], names[entry], *rest) for lot, entry, *rest in movements],
        "reservations": conn.execute(
            "SELECT count(*) FROM lot_reservations r JOIN credit_lots l ON l.id = r.lot_id"
            " WHERE l.student_id = %s",
            (student,),
        ).fetchall(),
        "debts": conn.execute(
            "SELECT amount, remaining FROM credit_debts WHERE student_id = %s ORDER BY created_at",
            (student,),
        ).fetchall(),
        "audit": _findings(conn),
    }


# (The clawback left a balance of 15: a capture may take no more.)
@pytest.mark.parametrize("capture", [9, 15, 0], ids=["part", "most", "release"])
def test_the_holds_lot_work_is_the_same_through_0013_and_0020(
    services: ServiceRunner, scratch: psycopg.Connection, capture: int
) -> None:
    student = make_student(services, balance=0).id
    conn = scratch
    conn.execute("SAVEPOINT before_0020_run")
    faster = _scenario(conn, student, capture)
    conn.execute("ROLLBACK TO SAVEPOINT before_0020_run")
    migration = load_migration("0020_holds_speed.py")
    conn.execute(migration.definitions_0013(migration.REPLACED))  # (rolled back at the end)
    before = _scenario(conn, student, capture)

    assert faster == before
    # The scenario reached what it is for: a lot expired under a hold, a debt paid on return.
    assert any(kind == "CLAWBACK" for *_, kind, _, _ in faster["movements"])
    assert faster["reservations"] == [(0,)]
    assert faster["audit"] == set()
