"""Round trips to PostgreSQL per request on the hot paths: what the database access style decides.

A profile of the API under bench/webhooks puts most of its CPU in psycopg's pipeline machinery,
uvicorn and FastAPI, not in our code: the number of times a request waits for the database is
what matters. This counts them: every time psycopg waits for the server's answer (its generator
asks to wait for the socket to become readable) is one round trip. The app runs in-process (an
ASGI client, no job worker), on an embedded PostgreSQL of its own, one request at a time.

    python -m bench.roundtrips [--requests 50]

It prints the mean round trips per request for a spend, a hold's create/extend/capture and a
`checkout.session.completed` delivery (first and duplicate), and the CPU time the request cost
this process (the client included: compare like with like). Figures, never assertions: the
same script runs on an older checkout to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import waiting

from bench.stack import parse_args
from medgrader.app import create_app
from medgrader.config import Environment, Settings
from medgrader.db.embedded import ensure_database, start_embedded_postgres
from medgrader.db.migrate import upgrade_to_head
from medgrader.db.resolve import Database

try:  # the module's home before and after the architecture issue (16)
    from medgrader.core.tokens import TokenConfig, issue_access_token
except ImportError:  # pragma: no cover - an older checkout
    from medgrader.auth.tokens import TokenConfig, issue_access_token  # type: ignore[no-redef]

JWT_SECRET = "roundtrips-jwt-secret-" + "x" * 40
WEBHOOK_SECRET = "whsec_roundtrips_" + "y" * 32
DATABASE = "medgrader_roundtrips"
# The lines this script exists to print (tests/bench checks them at --smoke size).
_MEASURED = r" +[\d.]+ round trips +[\d.]+ ms CPU \(this process\) per request$"
FIGURES = (
    rf"^POST /api/credits/spend{_MEASURED}",
    rf"^POST /api/credits/holds{_MEASURED}",
    rf"^POST /api/webhooks/stripe.*{_MEASURED}",
)


class Counter:
    def __init__(self) -> None:
        self.waits = 0


COUNTER = Counter()
_real_wait_async = waiting.wait_async


def _counted(gen: Any) -> Any:
    """The same generator, counting each state that waits for the server to answer (a state
    that also asks to write is nearly always served at once by a poll: not a wait)."""
    try:
        state = next(gen)
        while True:
            if state == waiting.WAIT_R:
                COUNTER.waits += 1
            state = gen.send((yield state))
    except StopIteration as stop:
        return stop.value


async def _counting_wait_async(gen: Any, fileno: int, *args: Any, **kwargs: Any) -> Any:
    return await _real_wait_async(_counted(gen), fileno, *args, **kwargs)


@contextmanager
def counting() -> Any:
    waiting.wait_async = _counting_wait_async  # type: ignore[assignment]
    try:
        yield COUNTER
    finally:
        waiting.wait_async = _real_wait_async  # type: ignore[assignment]


def _seed(url: str, students: int) -> tuple[list[str], str]:
    ids = [str(uuid.uuid4()) for _ in range(students)]
    package = str(uuid.uuid4())
    with psycopg.connect(url, autocommit=True) as conn:
        for student in ids:
            conn.execute(
                "INSERT INTO users (id, email, password_hash, role, email_verified_at)"
                " VALUES (%s, %s, 'x', 'student', now())",
                (student, f"rt-{student}@example.com"),
            )
            conn.execute(
                "INSERT INTO student_profiles (user_id, first_name, last_name, credit_balance)"
                " VALUES (%s, 'Round', 'Trips', 100000)",
                (student,),
            )
            conn.execute(
                "WITH e AS (INSERT INTO credit_transactions (student_id, entry_type, amount,"
                " balance_after, source_type, description) VALUES (%s, 'CREDIT', 100000, 100000,"
                " 'ADMIN_ADJUSTMENT', 'seed') RETURNING id, student_id)"
                # ... and its credit lot, as the ledger writes one (migration 0013)
                " INSERT INTO credit_lots (student_id, entry_id, kind, source, amount, remaining)"
                " SELECT student_id, id, 'GRANTED', 'ADMIN_GRANT', 100000, 100000 FROM e",
                (student,),
            )
        conn.execute(
            "INSERT INTO credit_packages (id, name, credits, price_pence, currency)"
            " VALUES (%s, 'Round trips', 100, 1000, 'GBP')",
            (package,),
        )
    return ids, package


def _pending_session(url: str, student: str, package: str) -> str:
    session_id = f"cs_test_rt_{uuid.uuid4().hex}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO checkout_sessions (stripe_session_id, student_id, package_id,"
            " package_name, credits, amount_pence, currency, status, expires_at)"
            " VALUES (%s, %s, %s, 'Round trips', 100, 1000, 'GBP', 'PENDING',"
            " now() + interval '1 day')",
            (session_id, student, package),
        )
    return session_id


def _completed_event(session_id: str, student: str, package: str) -> bytes:
    obj = {
        "id": session_id,
        "object": "checkout.session",
        "payment_status": "paid",
        "status": "complete",
        "amount_total": 1000,
        "currency": "gbp",
        "client_reference_id": student,
        "metadata": {"package_id": package},
        "payment_intent": f"pi_rt_{uuid.uuid4().hex}",
    }
    event = {
        "id": f"evt_rt_{uuid.uuid4().hex}",
        "object": "event",
        "type": "checkout.session.completed",
        "data": {"object": obj},
    }
    return json.dumps(event).encode()


def _signed(payload: bytes) -> dict[str, str]:
    return {"Stripe-Signature": _signature(payload), "Content-Type": "application/json"}


def _signature(payload: bytes) -> str:
    timestamp = int(time.time())
    mac = hmac.new(
        WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={mac}"


async def _measure(
    name: str, requests: int, make: Callable[[int], Awaitable[httpx.Response]], expect: int
) -> None:
    total, cpu = 0, 0.0
    for i in range(requests):
        before, started = COUNTER.waits, time.process_time()
        response = await make(i)
        cpu += time.process_time() - started
        assert response.status_code == expect, (name, response.status_code, response.text)
        total += COUNTER.waits - before
    print(
        f"{name:38s} {total / requests:5.2f} round trips"
        f"  {1000 * cpu / requests:6.2f} ms CPU (this process) per request"
    )


async def run(requests: int) -> None:
    data = Path(tempfile.mkdtemp(prefix="medgrader-roundtrips-"))
    server = start_embedded_postgres(data, database="postgres")
    try:
        ensure_database(server.libpq_url("postgres"), DATABASE)
        upgrade_to_head(server.sqlalchemy_url(DATABASE))
        url = server.libpq_url(DATABASE)
        students, package = _seed(url, 3)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            environment=Environment.TEST,
            database_url=server.sqlalchemy_url(DATABASE),
            jwt_secret=JWT_SECRET,
            stripe_secret_key="sk_test_roundtrips",  # noqa: S106 - the emulator's test key
            stripe_webhook_secret=WEBHOOK_SECRET,
            run_worker_in_process=False,
            # Every hold is created before any is extended or captured: not the limit's test.
            holds_max_active_per_student=max(5, requests),
        )
        tokens = TokenConfig(JWT_SECRET, settings.jwt_issuer, settings.jwt_audience, 3600)
        headers = {
            "Authorization": f"Bearer {issue_access_token(tokens, uuid.UUID(students[0]), 0)}"
        }
        app = create_app(settings, database=Database(url=settings.database_url, embedded=None))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as http:
                await _warm_up(http, headers)
                with counting():
                    await _scenarios(http, headers, url, students, package, requests)
    finally:
        server.stop()


async def _warm_up(http: httpx.AsyncClient, headers: dict[str, str]) -> None:
    for _ in range(3):  # the pool's connections open, caches fill
        key = {"Idempotency-Key": f"warm-{uuid.uuid4()}"}
        await http.post(
            "/api/credits/spend", json={"amount": 1, "reason": "warm"}, headers=headers | key
        )


async def _scenarios(
    http: httpx.AsyncClient,
    headers: dict[str, str],
    url: str,
    students: list[str],
    package: str,
    requests: int,
) -> None:
    def keyed() -> dict[str, str]:
        return headers | {"Idempotency-Key": f"rt-{uuid.uuid4()}"}

    await _measure(
        "POST /api/credits/spend",
        requests,
        lambda _: http.post(
            "/api/credits/spend", json={"amount": 1, "reason": "voice"}, headers=keyed()
        ),
        201,
    )
    holds: list[str] = []

    async def create(_: int) -> httpx.Response:
        response = await http.post(
            "/api/credits/holds", json={"amount": 5, "reason": "call"}, headers=keyed()
        )
        holds.append(response.json().get("holdId", ""))
        return response

    await _measure("POST /api/credits/holds", requests, create, 201)
    await _measure(
        "POST /api/credits/holds/{id}/extend",
        requests,
        lambda i: http.post(
            f"/api/credits/holds/{holds[i]}/extend", json={"additionalAmount": 1}, headers=keyed()
        ),
        200,
    )
    await _measure(
        "POST /api/credits/holds/{id}/capture",
        requests,
        lambda i: http.post(
            f"/api/credits/holds/{holds[i]}/capture", json={"amount": 3}, headers=keyed()
        ),
        201,
    )
    events = [
        _completed_event(_pending_session(url, students[1], package), students[1], package)
        for _ in range(requests)
    ]
    for delivery in ("completed", "duplicate"):  # the same events twice
        await _measure(
            f"POST /api/webhooks/stripe ({delivery})",
            requests,
            lambda i: http.post(
                "/api/webhooks/stripe", content=events[i], headers=_signed(events[i])
            ),
            200,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    args = parse_args(parser, None, {"requests": 3})
    asyncio.run(run(args.requests))


if __name__ == "__main__":
    main()
