"""50 spends racing the expiry job and hold captures, on a student whose five lots expire at
the same instant: every credit is used or expired exactly once, credits a hold reserved are
never cut short by the expiry, and the audit is clean (the fast tier's audit, `invariants`)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from medgrader.holds.sweep import expire_due_holds
from tests.credits.factory import new_key, spend_headers
from tests.lots.support import grant, lots
from tests.support.services import ServiceRunner
from tests.support.tiers import OpenHttp

pytestmark = pytest.mark.usefixtures("invariants")


async def test_fifty_spends_race_the_expiry_and_captures(
    new_async_client: OpenHttp, db: psycopg.Connection, services: ServiceRunner, new_student: Any
) -> None:
    student = new_student(balance=0)
    instant = datetime.now(UTC) + timedelta(seconds=2)
    for _ in range(5):
        grant(services, student.id, 10, expires_at=instant)  # 50 credits, one instant
    body = {"amount": 1, "reason": "voice minute"}

    def sweep() -> int:
        return services.in_transaction(lambda session, _: expire_due_holds(session, batch=10))

    async with new_async_client() as http:
        holds = [
            (
                await http.post(
                    "/api/credits/holds",
                    json={"amount": 6, "reason": "voice"},
                    headers=spend_headers(student, new_key()),
                )
            ).json()
            for _ in range(2)
        ]
        await asyncio.sleep(max((instant - datetime.now(UTC)).total_seconds() - 0.4, 0))

        async def spend(k: int) -> httpx.Response:
            await asyncio.sleep(k * 0.016)  # 50 spends spread over 0.8 s around the instant
            return await http.post(
                "/api/credits/spend", json=body, headers=spend_headers(student, new_key())
            )

        async def capture(hold: dict[str, Any], delay: float) -> httpx.Response:
            await asyncio.sleep(delay)
            return await http.post(
                f"/api/credits/holds/{hold['holdId']}/capture", json={"amount": 4},
                headers=spend_headers(student, new_key()),
            )  # fmt: skip

        async def sweeper(delay: float) -> int:
            await asyncio.sleep(delay)
            return await asyncio.to_thread(sweep)

        results = await asyncio.gather(
            *(spend(k) for k in range(50)),
            capture(holds[0], 0.3),
            capture(holds[1], 0.7),
            *(sweeper(0.1 * k) for k in range(8)),
        )
    await asyncio.sleep(max((instant - datetime.now(UTC)).total_seconds(), 0) + 0.1)
    await asyncio.to_thread(sweep)

    spends = [r for r in results[:50] if isinstance(r, httpx.Response)]
    statuses = Counter(r.status_code for r in spends)
    assert set(statuses) <= {201, 402}, statuses
    captures = results[50:52]
    assert [c.status_code for c in captures] == [201, 201]  # never cut short by the expiry
    rows = db.execute(
        "SELECT source_type, COALESCE(SUM(amount), 0), count(*) FROM credit_transactions"
        " WHERE student_id = %s AND entry_type = 'DEBIT' GROUP BY source_type",
        (student.id,),
    ).fetchall()
    debits = {source: (int(total), int(n)) for source, total, n in rows}
    used = debits["USAGE"][0]
    expired = debits.get("EXPIRY", (0, 0))[0]
    assert used == statuses[201] + 8  # the spends and the two captures of 4
    assert used + expired == 50  # every credit of the five lots: used or expired, once
    # The 4 each capture left unused came back to expired lots: they expired on their own.
    assert all((lot["remaining"], lot["reserved"]) == (0, 0) for lot in lots(db, student.id))
    sources = db.execute(
        "SELECT source_id FROM credit_transactions WHERE student_id = %s"
        " AND source_type = 'EXPIRY'",
        (student.id,),
    ).fetchall()
    assert len(sources) == len({s for (s,) in sources})
