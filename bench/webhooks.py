"""Webhook benchmark: N pending checkout sessions, N signed `checkout.session.completed`
deliveries (+20 % duplicates, shuffled) fired at POST /api/webhooks/stripe by C senders.

    python -m bench.webhooks [--sessions 2000] [--clients 16] [--duplicates 0.2] [--workers 1]
                             [--smoke]

Prints deliveries/s, p50/p99 latency and the API's peak RSS, checks exactly-once at the end
(one PURCHASE entry, one Payment and one receipt job per session, every balance = its credits,
the audit clean), then prints the ceiling: pgbench running the same SQL transaction (the
statements taken from the code) on the same server at the same concurrency, and the ratio.

VAT documents (issue 21): the fulfilling transaction only defers the receipt's job; the
gap-free numbering (a serial point) runs in the issuer. To show what issuing costs fulfilment,
a second run of N sessions is delivered while `medgrader documents backfill --watch` issues
receipts alongside (first the first run's N, then the new ones as they commit): both rates are
printed, and their ratio (the issue's target: at least 80 %); then the receipts are checked
(one per payment, numbers 1..n without a gap).
A script, not a test: nothing here asserts on speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg
import stripe

from bench.documents import check_documents, documents_alongside
from bench.stack import (
    SMOKE_TRANSACTIONS,
    WEBHOOK_SECRET,
    BenchStack,
    RawHttpConnection,
    inline_sql,
    parse_args,
    percentile,
)
from medgrader.audit.checks import CHECKS
from medgrader.checkout import repository as checkout_sql
from medgrader.jobs.queues import RECEIPT_TASK, RECEIPTS_QUEUE
from medgrader.ledger import service as ledger
from medgrader.payments import repository as payment_sql
from medgrader.webhooks import repository as inbox_sql

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "stripe" / "fixtures3.json"
CREDITS, PENCE = 100, 1000
WARMUP_BASE = 5_000_000  # session numbers: app 1..N, warm-up 5M.., pgbench 10M + client*1M + i
PGBENCH_BASE = 10_000_000
PGBENCH_PER_CLIENT = 1_000_000
PGBENCH_STUDENT_BASE = 20_000_000
PACKAGE_ID = uuid.UUID("00000000-0000-4000-8000-00000000feed")
# The lines this script exists to print (tests/bench checks them at --smoke size).
FIGURES = (
    r"^deliveries \d+ in [\d.]+ s: \d+/s +p50 [\d.]+ ms +p99 [\d.]+ ms +peak server RSS \d+ MB$",
    r"^CPU per delivery: API process [\d.]+ ms, PostgreSQL [\d.]+ ms, whole machine [\d.]+ ms",
    r"^pgbench ceiling \(same transaction, \d+ clients\): \d+ tps; ratio [\d.]+%",
    r"^exactly-once: \d+ sessions -> .*; audit clean; .*: OK$",
    r"^documents on: deliveries \d+ in [\d.]+ s: \d+/s, \d+ receipts issued alongside; "
    r"documents off: \d+/s; ratio [\d.]+%",
    r"^documents: \d+ payments, \d+ receipts, numbers 1\.\.\d+ without gaps: OK$",
)
DOCUMENTS_BASE = 30_000_000  # the documents-on run's sessions


def number_uuid(n: int, kind: int) -> uuid.UUID:
    """Deterministic ids (kind 1: student, 2: our session row) that pgbench can compute too."""
    return uuid.UUID(f"00000000-0000-4000-{8000 + kind:04d}-{n:012d}")


def uuid_sql(expr: str, kind: int) -> str:
    return f"('00000000-0000-4000-{8000 + kind:04d}-' || lpad(({expr})::text, 12, '0'))::uuid"


def stripe_session_id(n: int) -> str:
    return f"cs_test_bench_{n:012d}"


# -- seeding ----------------------------------------------------------------------------------


def seed(db: psycopg.Connection, sessions: list[int], students: list[int]) -> None:
    """Students and PENDING sessions straight in SQL (session n belongs to student students[i])."""
    db.execute(
        """
        WITH u AS (
            INSERT INTO users (id, email, password_hash, role, email_verified_at)
            SELECT id, 'bench-' || id || '@example.com', 'x', 'student', now()
              FROM unnest(%s::uuid[]) AS id
            ON CONFLICT DO NOTHING
            RETURNING id
        )
        INSERT INTO student_profiles (user_id, first_name, last_name) SELECT id, 'B', 'S' FROM u
        """,
        (sorted({number_uuid(s, 1) for s in students}),),
    )
    db.execute(
        """
        INSERT INTO checkout_sessions (id, stripe_session_id, student_id, package_id, package_name,
                                       credits, amount_pence, currency, status, expires_at)
        SELECT s.id, s.sid, s.student, %s, 'Starter Pack', %s, %s, 'GBP', 'PENDING',
               now() + interval '1 day'
          FROM unnest(%s::uuid[], %s::text[], %s::uuid[]) AS s(id, sid, student)
        """,
        (
            PACKAGE_ID,
            CREDITS,
            PENCE,
            [number_uuid(n, 2) for n in sessions],
            [stripe_session_id(n) for n in sessions],
            [number_uuid(s, 1) for s in students],
        ),
    )


def seed_package(db: psycopg.Connection) -> None:
    db.execute(
        """INSERT INTO credit_packages (id, name, credits, price_pence, currency)
           VALUES (%s, 'Starter Pack', %s, %s, 'GBP')""",
        (PACKAGE_ID, CREDITS, PENCE),
    )


# -- Stripe-shaped events -----------------------------------------------------------------------


def templates() -> tuple[dict[str, Any], dict[str, Any]]:
    resources = json.loads(FIXTURES.read_text())["resources"]
    return resources["event"], resources["checkout.session"]


def completed_event(
    n: int, student: int, event_t: dict[str, Any], session_t: dict[str, Any]
) -> bytes:
    obj = json.loads(json.dumps(session_t))
    obj.update(
        id=stripe_session_id(n),
        amount_subtotal=PENCE,
        amount_total=PENCE,
        currency="gbp",
        client_reference_id=str(number_uuid(student, 1)),
        customer=f"cus_bench{student:010d}",
        metadata={
            "student_id": str(number_uuid(student, 1)),
            "package_id": str(PACKAGE_ID),
            "credits": str(CREDITS),
        },
        mode="payment",
        payment_intent=f"pi_bench_{n:012d}",
        payment_status="paid",
        status="complete",
    )
    event = json.loads(json.dumps(event_t))
    event.update(
        id=f"evt_bench_{n:012d}",
        api_version="2026-10-28.endive",
        created=int(time.time()),
        type="checkout.session.completed",
        data={"object": obj},
        pending_webhooks=1,
    )
    return json.dumps(event).encode()


def signed(payload: bytes) -> dict[str, str]:
    header = stripe.WebhookSignature.generate_signature_header(payload.decode(), WEBHOOK_SECRET)
    return {"Stripe-Signature": header}


# -- the load ---------------------------------------------------------------------------------


@dataclass
class RunResult:
    count: int
    seconds: float
    latencies_ms: list[float]
    statuses: dict[int, int]
    rss_mb: float = 0.0

    @property
    def rate(self) -> float:
        return self.count / self.seconds


async def deliver(port: int, deliveries: list[bytes], clients: int) -> RunResult:
    """Each sender signs just before sending (as Stripe does) and waits for the answer."""
    queue = iter(deliveries)
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def sender() -> None:
        connection = RawHttpConnection("127.0.0.1", port)
        try:
            for payload in queue:
                headers = signed(payload)
                started = time.perf_counter()
                status, _ = await connection.post("/api/webhooks/stripe", payload, headers)
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(clients)))
    return RunResult(len(deliveries), time.perf_counter() - started, latencies, statuses)


def plan(
    sessions: list[int], students: list[int], duplicates: float, rng: random.Random
) -> list[bytes]:
    event_t, session_t = templates()
    pairs = zip(sessions, students, strict=True)
    events = [completed_event(n, s, event_t, session_t) for n, s in pairs]
    deliveries = events + [rng.choice(events) for _ in range(int(len(events) * duplicates))]
    rng.shuffle(deliveries)
    return deliveries


# -- pgbench: the same transaction ------------------------------------------------------------


def pgbench_student(client: int, i: int, clients: int, students: int) -> int:
    # Spread so that clients at the same step credit different students, as the app run does.
    return PGBENCH_STUDENT_BASE + (client + clients * i) % students


def pgbench_script(students: int, clients: int, payload: str) -> str:
    """One delivery's transaction, statement for statement, as the endpoint runs it.

    Each client walks its own block of pre-created PENDING sessions (`i` counts per client),
    so every transaction fulfils a fresh session just as every first delivery does.
    """
    n = f"({PGBENCH_BASE} + :client_id * {PGBENCH_PER_CLIENT} + :i)"
    student = uuid_sql(f"{PGBENCH_STUDENT_BASE} + (:client_id + {clients} * :i) % {students}", 1)
    session_row = uuid_sql(n, 2)
    sid = f"('cs_test_bench_' || lpad({n}::text, 12, '0'))"
    event_id = f"('evt_pgb_' || {n})"
    literal = "'" + payload.replace("'", "''") + "'"
    statements = [
        inline_sql(inbox_sql.CLAIM.text, {
            "id": event_id, "type": "'checkout.session.completed'", "payload": literal}),
        inline_sql(checkout_sql.LOCK_BY_STRIPE_ID.text, {"sid": sid}),
        inline_sql(payment_sql.RECORD.text, {
            "id": "gen_random_uuid()", "checkout_session_id": session_row,
            "intent": f"('pi_pgb_' || {n})"}),
        inline_sql(ledger.CREDIT_SQL.text, {
            "student_id": student, "amount": str(CREDITS),
            "entry_type": "'CREDIT'", "source_type": "'PURCHASE'", "source_id": sid,
            "description": "'Purchased Starter Pack'",
            "metadata": '\'{"package_id": "x", "amount_pence": 1000}\'::jsonb',
            "idempotency_key": f"('purchase:' || {sid})", "actor_id": "NULL",
            # The purchase's lot, as fulfilment posts it: paid, worth what was paid.
            "lot_kind": "'PAID'", "lot_source": "'PURCHASE'", "expires_at": "NULL",
            "priority": "50", "value_minor": "1000", "currency": "'GBP'", "hold_id": "NULL"}),
        "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW('" + RECEIPTS_QUEUE + "', "
        f"'{RECEIPT_TASK}', 0, NULL, NULL, jsonb_build_object('payment_id', {n}::text), NULL)"
        "::procrastinate_job_to_defer_v1])) AS id;",
        inline_sql(inbox_sql.PROCESSED.text, {"id": event_id, "outcome": "'fulfilled'"}),
    ]  # fmt: skip
    body = "\n".join(statements)
    return f"BEGIN;\n{body}\nCOMMIT;\n\\set i :i + 1\n"


def postgres_cpu_seconds(database: str) -> float:
    """CPU used so far by the PostgreSQL backends serving `database` (the pooled connections
    live through the whole run; the shared background processes are not counted)."""
    total = 0.0
    for process in psutil.process_iter(["cmdline", "cpu_times"]):
        cmdline = process.info["cmdline"] or []
        if cmdline and cmdline[0].startswith("postgres:") and f" {database} " in cmdline[0]:
            times = process.info["cpu_times"]
            total += times.user + times.system
    return total


# -- checks and main ----------------------------------------------------------------------------


def check_exactly_once(db: psycopg.Connection, sessions: list[int], result: RunResult) -> bool:
    findings = {name: len(db.execute(query).fetchall()) for name, query in CHECKS.items()}
    sids = [stripe_session_id(n) for n in sessions]
    row = db.execute(
        """
        SELECT (SELECT count(*) FROM checkout_sessions
                 WHERE stripe_session_id = ANY(%(s)s) AND status = 'COMPLETED'),
               (SELECT count(*) FROM credit_transactions
                 WHERE source_type = 'PURCHASE' AND source_id = ANY(%(s)s)),
               (SELECT count(DISTINCT source_id) FROM credit_transactions
                 WHERE source_type = 'PURCHASE' AND source_id = ANY(%(s)s)),
               (SELECT count(*) FROM payments WHERE stripe_checkout_session_id = ANY(%(s)s)),
               (SELECT count(*) FROM procrastinate_jobs j JOIN payments p
                    ON j.args ->> 'payment_id' = p.id::text
                 WHERE p.stripe_checkout_session_id = ANY(%(s)s)),
               (SELECT count(*) FROM student_profiles p
                  JOIN checkout_sessions c ON c.student_id = p.user_id
                 WHERE c.stripe_session_id = ANY(%(s)s) AND p.credit_balance <> %(credits)s),
               (SELECT count(*) FROM webhook_events
                 WHERE id LIKE 'evt_bench_%%' AND processed_at IS NOT NULL
                   AND outcome = 'fulfilled')
        """,
        {"s": sids, "credits": CREDITS},
    ).fetchone()
    assert row is not None
    completed, entries, distinct, payments, jobs, wrong_balances, inbox = row
    n = len(sessions)
    ok = (
        all(v == 0 for v in findings.values())
        and completed == entries == distinct == payments == jobs == n
        and wrong_balances == 0
        and inbox >= n
        and set(result.statuses) == {200}
    )
    print(
        f"exactly-once: {n} sessions -> {completed} COMPLETED, {entries} PURCHASE entries "
        f"({distinct} distinct), {payments} payments, {jobs} receipt jobs, "
        f"{wrong_balances} wrong balances; audit "
        + ("clean" if all(v == 0 for v in findings.values()) else f"FINDINGS {findings}")
        + f"; HTTP statuses {result.statuses}: {'OK' if ok else 'FAILED'}"
    )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=2000, help="N pending sessions")
    parser.add_argument("--clients", type=int, default=16, help="C concurrent senders")
    parser.add_argument("--duplicates", type=float, default=0.2)
    parser.add_argument("--workers", type=int, default=1, help="API worker processes")
    parser.add_argument("--pgbench-seconds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=300, help="deliveries before measuring")
    smoke = {"sessions": 20, "clients": 2, "workers": 1, "pgbench_seconds": 0, "warmup": 10}
    args = parse_args(parser, argv, smoke)
    rng = random.Random(args.seed)

    sessions = list(range(1, args.sessions + 1))
    warmup = list(range(WARMUP_BASE, WARMUP_BASE + args.warmup))
    # Sessions for pgbench: far more than one client can do (~600/s).
    per_client = max(args.pgbench_seconds * 1500, SMOKE_TRANSACTIONS)
    steps = [(c, i) for c in range(args.clients) for i in range(per_client)]
    pgb_sessions = [PGBENCH_BASE + c * PGBENCH_PER_CLIENT + i for c, i in steps]
    pgb_students = [pgbench_student(c, i, args.clients, args.sessions) for c, i in steps]

    with BenchStack(name="webhooks", api_workers=args.workers) as stack:
        with psycopg.connect(stack.libpq_url, autocommit=True) as db:
            seed_package(db)
            seed(db, sessions + warmup, sessions + warmup)
            seed(db, pgb_sessions, pgb_students)
        print(
            f"webhook benchmark: {args.sessions} sessions, +{args.duplicates:.0%} duplicates, "
            f"{args.clients} senders, {args.workers} API worker(s)"
        )
        asyncio.run(deliver(stack.port, plan(warmup, warmup, 0.2, rng), args.clients))
        deliveries = plan(sessions, sessions, args.duplicates, rng)
        server = psutil.Process(stack.server_pid)
        server_before, machine_before = server.cpu_times(), psutil.cpu_times()
        pg_before = postgres_cpu_seconds(stack.database_name)
        with stack.rss_monitor() as rss:
            result = asyncio.run(deliver(stack.port, deliveries, args.clients))
        result.rss_mb = rss.peak_mb
        server_after, machine_after = server.cpu_times(), psutil.cpu_times()
        pg_ms = (postgres_cpu_seconds(stack.database_name) - pg_before) * 1000 / result.count
        server_ms = (sum(server_after[:2]) - sum(server_before[:2])) * 1000 / result.count
        busy = sum(machine_after) - machine_after.idle - (sum(machine_before) - machine_before.idle)
        machine_ms = busy * 1000 / result.count

        with psycopg.connect(stack.libpq_url, autocommit=True) as db:
            ok = check_exactly_once(db, sessions, result)
            documented = list(range(DOCUMENTS_BASE, DOCUMENTS_BASE + args.sessions))
            seed(db, documented, documented)
        with documents_alongside(stack) as issued:
            planned = plan(documented, documented, args.duplicates, rng)
            with_documents = asyncio.run(deliver(stack.port, planned, args.clients))
            during = issued()
        print(
            f"documents on: deliveries {with_documents.count} in {with_documents.seconds:.2f} s: "
            f"{with_documents.rate:.0f}/s, {during} receipts issued alongside; documents off: "
            f"{result.rate:.0f}/s; ratio {with_documents.rate / result.rate:.1%} "
            "(target >= 80 %)"
        )
        with psycopg.connect(stack.libpq_url, autocommit=True) as db:
            ok = check_exactly_once(db, documented, with_documents) and ok
            ok = check_documents(db) and ok
        event_t, session_t = templates()
        payload = completed_event(PGBENCH_BASE, PGBENCH_STUDENT_BASE, event_t, session_t).decode()
        ceiling = stack.pgbench(
            pgbench_script(args.sessions, args.clients, payload),
            clients=args.clients,
            seconds=args.pgbench_seconds,
            variables={"i": "0"},
        )
        ratio = result.rate / ceiling
        print(
            f"deliveries {result.count} in {result.seconds:.2f} s: {result.rate:.0f}/s  "
            f"p50 {percentile(result.latencies_ms, 50):.1f} ms  "
            f"p99 {percentile(result.latencies_ms, 99):.1f} ms  "
            f"peak server RSS {result.rss_mb:.0f} MB"
        )
        print(
            f"CPU per delivery: API process {server_ms:.2f} ms, PostgreSQL {pg_ms:.2f} ms, "
            f"whole machine {machine_ms:.2f} ms (API, PostgreSQL, senders and the rest)"
        )
        print(
            f"pgbench ceiling (same transaction, {args.clients} clients): {ceiling:.0f} tps; "
            f"ratio {ratio:.1%} (target >= 15 %, p99 < 50 ms, RSS < 200 MB)"
        )
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
