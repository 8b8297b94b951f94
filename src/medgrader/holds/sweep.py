"""The expiry sweep of holds and lots (the every-minute job, holds.tasks): settle the students
whose holds or lots are past their expiry, each under their balance row lock, skipping those
being posted to right now (their posting settles them first). Correctness never waits for it:
an expired hold stopped counting when its time passed, and expired credits are never usable."""

from __future__ import annotations

from dataclasses import dataclass

from medgrader.core import metrics
from medgrader.db.session import Db
from medgrader.holds import repository as sql
from medgrader.ledger.threshold import after_expiry


@dataclass(frozen=True)
class Swept:
    """One sweep: holds EXPIRED, lots expired, students settled (at most the batch)."""

    holds: int
    lots: int
    students: int


async def sweep_due(db: Db, *, batch: int = 1000) -> Swept:
    """Settle up to `batch` students with holds or lots past their expiry, each under their
    balance row lock (students being posted to right now are skipped: their posting settles
    them): holds EXPIRED (their credits back to their lots), lots expired (one EXPIRY entry
    each, exactly once). Correctness never waits for this: an expired hold stopped counting
    when its time passed, and every posting settles its student first."""
    row = (await db.execute(sql.SWEEP, {"batch": batch})).one()
    swept = Swept(int(row.holds_expired), int(row.lots_expired), int(row.students))
    if swept.lots:
        # An expiry is a debit for the top-up trigger; the students' locks are still held.
        await after_expiry(db)
    if swept.holds:
        metrics.HOLDS.labels(action="expire", outcome="ok").inc(swept.holds)
    return swept


async def expire_due_holds(db: Db, *, batch: int = 1000) -> int:
    """sweep_due; returns how many holds it expired."""
    return (await sweep_due(db, batch=batch)).holds
