"""Benchmark: the back office's dashboard and the analytics endpoints on a large database.

    python -m bench.dashboard [--payments 100000] [--entries 1000000] [--requests 40] [--smoke]

Loads N payments (with their checkout sessions, PURCHASE entries, some refunds and
disputes) spread over the last year, more checkout sessions that expired or failed, and
usage entries up to M ledger entries in all, with every balance equal to its ledger and
its lots (one paid lot per purchase, the usage taken from them in the spend order); then
times GET /admin (the page, with a signed-in admin's cookie) and GET
/api/admin/analytics/summary and /daily over HTTP, one request at a time, and prints the
medians next to the same SQL run by pgbench in the same run (the ceiling). Prints figures,
asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg

from bench.stack import JWT_SECRET, BenchStack, parse_args, percentile
from medgrader.analytics import repository
from medgrader.analytics.service import DayRange, day_range, last_days
from medgrader.config import Environment, Settings
from medgrader.web.session import COOKIE_NAME, BrowserSession, SessionCodec
from medgrader.webhooks.service import handled_types

ADMIN_ID = uuid.UUID("00000000-0000-4000-8000-00000000ad01")
# The lines this script exists to print (tests/bench checks them at --smoke size).
_TIMED = r" +median +[\d.]+ ms +p90 +[\d.]+ ms$"
FIGURES = (
    r"^loaded \d+ payments, [\d,]+ ledger entries, ",
    rf"^  GET /admin \(the page: 3 cards, 30-day range\){_TIMED}",
    rf"^  GET /api/admin/analytics/summary \(365 days\){_TIMED}",
    rf"^  GET /api/admin/analytics/daily \(365 days\){_TIMED}",
    r"^  pgbench: the same SQL as one dashboard view +mean +[\d.]+ ms +\(the ceiling\)$",
)


def seed(db: psycopg.Connection, *, students: int, payments: int, entries: int) -> None:
    """Everything in set-based SQL; a few statements, each one transaction."""
    started = time.monotonic()
    db.execute(
        """
        INSERT INTO users (id, email, password_hash, role, is_admin, email_verified_at)
        VALUES (%s, 'bench-admin@example.com', 'x', 'instructor', true, now())
        """,
        (ADMIN_ID,),
    )
    db.execute(
        """
        WITH u AS (
            INSERT INTO users (email, password_hash, role, email_verified_at)
            SELECT 'student-' || n || '@example.com', 'x', 'student', now()
              FROM generate_series(1, %s) AS n
            RETURNING id, email
        )
        INSERT INTO student_profiles (user_id, first_name, last_name)
        SELECT id, 'Student', split_part(email, '@', 1) FROM u
        """,
        (students,),
    )
    db.execute(
        """
        INSERT INTO credit_packages (name, description, credits, price_pence) VALUES
          ('Starter Pack', '100 credits', 100, 1000), ('Value Pack', '500 credits', 500, 4500),
          ('Premium Pack', '1000 credits', 1000, 8000)
        """
    )
    # Sessions: `payments` completed ones plus a quarter as many expired or failed.
    db.execute(
        """
        WITH s AS (SELECT user_id, row_number() OVER () AS k FROM student_profiles),
        p AS (SELECT id, name, credits, price_pence, row_number() OVER (ORDER BY credits) AS k
                FROM credit_packages),
        rows AS (
            SELECT n, (SELECT user_id FROM s WHERE s.k = 1 + n %% %(students)s) AS student_id,
                   1 + n %% 3 AS package_k,
                   now() - (n %% 365) * interval '1 day' - (n %% 1440) * interval '1 minute' AS at
              FROM generate_series(1, %(sessions)s) AS n
        )
        INSERT INTO checkout_sessions (stripe_session_id, student_id, package_id, package_name,
                                       credits, amount_pence, currency, status, expires_at,
                                       completed_at, created_at, stripe_payment_intent_id)
        SELECT 'cs_bench_' || n, r.student_id, p.id, p.name, p.credits, p.price_pence, 'GBP',
               CASE WHEN n <= %(payments)s THEN 'COMPLETED'
                    WHEN n %% 5 = 0 THEN 'FAILED' ELSE 'EXPIRED' END,
               r.at + interval '1 day', CASE WHEN n <= %(payments)s THEN r.at END, r.at,
               'pi_bench_' || n
          FROM rows r JOIN p ON p.k = r.package_k
        """,
        {"students": students, "sessions": payments + payments // 4, "payments": payments},
    )
    db.execute(
        """
        INSERT INTO payments (student_id, checkout_session_id, stripe_checkout_session_id,
                              stripe_payment_intent_id, status, amount_pence, currency, credits,
                              package_name, paid_at, created_at)
        SELECT student_id, id, stripe_session_id, stripe_payment_intent_id, 'SUCCEEDED',
               amount_pence, currency, credits, package_name, completed_at, completed_at
          FROM checkout_sessions WHERE status = 'COMPLETED'
        """
    )
    # 5 % of payments partly refunded, 0.5 % disputed (the figures and the joins have work).
    db.execute(
        """
        WITH chosen AS (
            UPDATE payments SET status = 'PARTIALLY_REFUNDED',
                   amount_refunded_pence = amount_pence / 2
             WHERE stripe_checkout_session_id ~ '^cs_bench_[0-9]*0$'
               AND random() < 0.5
            RETURNING id, student_id, amount_refunded_pence, paid_at
        )
        INSERT INTO refunds (stripe_refund_id, payment_id, student_id, amount_pence, currency,
                             status, stripe_created_at, created_at)
        SELECT 're_bench_' || id, id, student_id, amount_refunded_pence, 'GBP', 'succeeded',
               paid_at + interval '1 hour', paid_at + interval '1 hour'
          FROM chosen
        """
    )
    db.execute(
        """
        WITH chosen AS (
            UPDATE payments SET status = 'DISPUTED', amount_disputed_pence = amount_pence
             WHERE stripe_checkout_session_id ~ '^cs_bench_[0-9]*7$' AND random() < 0.05
               AND status = 'SUCCEEDED'
            RETURNING id, student_id, amount_pence, paid_at
        )
        INSERT INTO disputes (stripe_dispute_id, payment_id, student_id, amount_pence,
                              currency, status, funds_withdrawn_pence, stripe_created_at,
                              created_at)
        SELECT 'dp_bench_' || id, id, student_id, amount_pence, 'GBP', 'needs_response',
               amount_pence, paid_at + interval '2 days', paid_at + interval '2 days'
          FROM chosen
        """
    )
    # The ledger: one PURCHASE per payment, then 1-credit usage up to `entries` in all, in
    # that order, so that every running balance stays at or above zero. Balances follow.
    usage = max(entries - payments, 0)
    db.execute(
        """
        INSERT INTO credit_transactions (student_id, entry_type, amount, balance_after,
                                         source_type, source_id, description, created_at)
        SELECT student_id, 'CREDIT', credits,
               SUM(credits) OVER (PARTITION BY student_id ORDER BY paid_at, id),
               'PURCHASE', stripe_checkout_session_id, 'Purchase: ' || package_name, paid_at
          FROM payments ORDER BY paid_at, id
        """
    )
    db.execute(
        """
        WITH totals AS (
            SELECT student_id, SUM(amount) AS bought, row_number() OVER () AS k
              FROM credit_transactions GROUP BY student_id
        ), spends AS (
            SELECT t.student_id, t.bought, n,
                   row_number() OVER (PARTITION BY t.student_id ORDER BY n) AS i
              FROM generate_series(1, %(usage)s) AS n
              JOIN totals t ON t.k = 1 + n %% (SELECT count(*) FROM totals)
        )
        INSERT INTO credit_transactions (student_id, entry_type, amount, balance_after,
                                         source_type, description)
        SELECT student_id, 'DEBIT', 1, bought - i, 'USAGE', 'Voice tutoring, 1 min'
          FROM spends WHERE i <= bought ORDER BY student_id, i
        """,
        {"usage": usage},
    )
    seed_lots(db)
    db.execute(
        """
        UPDATE student_profiles p SET credit_balance = s.total
          FROM (SELECT student_id,
                       SUM(CASE WHEN entry_type = 'CREDIT' THEN amount ELSE -amount END) AS total
                  FROM credit_transactions GROUP BY student_id) s
         WHERE s.student_id = p.user_id
        """
    )
    db.execute(
        """
        INSERT INTO webhook_events (id, type, payload, received_at, processed_at, outcome)
        SELECT 'evt_bench_' || n, 'checkout.session.completed',
               CAST('{"id": "evt_bench_' || n || '"}' AS json),
               now() - (n %% 365) * interval '1 day',
               CASE WHEN n %% 1000 = 0 THEN NULL ELSE now() END,
               CASE WHEN n %% 1000 = 0 THEN 'unhandled: stored for later' ELSE 'fulfilled' END
          FROM generate_series(1, %s) AS n
        """,
        (payments,),
    )
    db.execute("VACUUM ANALYZE")
    counts = db.execute(
        "SELECT (SELECT count(*) FROM payments), (SELECT count(*) FROM credit_transactions),"
        " (SELECT count(*) FROM checkout_sessions), (SELECT count(*) FROM refunds),"
        " (SELECT count(*) FROM disputes)"
    ).fetchone()
    assert counts is not None
    print(
        f"loaded {counts[0]:,} payments, {counts[1]:,} ledger entries, {counts[2]:,} checkout "
        f"sessions, {counts[3]:,} refunds, {counts[4]:,} disputes in "
        f"{time.monotonic() - started:.0f} s"
    )


def seed_lots(db: psycopg.Connection) -> None:
    """The lots the writer (ledger_post, migration 0013) would have made for these entries,
    in bulk: posting a million entries one by one through it would take the seed from
    seconds to many minutes. Each PURCHASE is a PAID lot worth its payment; the lots never
    expire and share a priority, so the spend order is the oldest lot first, and the n-th
    1-credit USAGE entry of a student takes the n-th credit bought, as one USE movement
    carrying floor(V*k/C) - floor(V*(k-1)/C) (k: its place in its lot of C credits worth V).
    The dashboard's recognised revenue reads these movements."""
    db.execute(
        """
        INSERT INTO credit_lots (student_id, entry_id, kind, source, amount, remaining,
                                 value_minor, currency, created_at)
        SELECT t.student_id, t.id, 'PAID', 'PURCHASE', t.amount, t.amount, p.amount_pence,
               p.currency, t.created_at
          FROM credit_transactions t
          JOIN payments p ON p.stripe_checkout_session_id = t.source_id
         WHERE t.source_type = 'PURCHASE'
         ORDER BY t.seq
        """
    )
    db.execute(
        """
        WITH lots AS (
            SELECT id, student_id, amount, value_minor,
                   SUM(amount) OVER (PARTITION BY student_id ORDER BY seq) - amount AS before
              FROM credit_lots
        ), uses AS (
            SELECT id, student_id, created_at,
                   row_number() OVER (PARTITION BY student_id ORDER BY seq) AS n
              FROM credit_transactions WHERE source_type = 'USAGE'
        )
        INSERT INTO lot_movements (lot_id, entry_id, kind, credits, value_minor, created_at)
        SELECT l.id, u.id, 'USE', 1,
               (l.value_minor * (u.n - l.before)) / l.amount
               - (l.value_minor * (u.n - l.before - 1)) / l.amount,
               u.created_at
          FROM uses u
          JOIN lots l ON l.student_id = u.student_id
                     AND u.n > l.before AND u.n <= l.before + l.amount
         ORDER BY u.student_id, u.n
        """
    )
    db.execute(
        """
        UPDATE credit_lots l SET remaining = l.amount - m.used
          FROM (SELECT lot_id, count(*) AS used FROM lot_movements GROUP BY lot_id) m
         WHERE m.lot_id = l.id
        """
    )


def admin_cookie() -> str:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment=Environment.PRODUCTION,
        jwt_secret=JWT_SECRET,
        stripe_secret_key="sk_test_bench_not_used",  # noqa: S106 - the bench API's own
        stripe_webhook_secret="whsec_bench_not_used",  # noqa: S106
    )
    return SessionCodec(settings).encode(BrowserSession.signed_in(ADMIN_ID))


def time_requests(http: httpx.Client, path: str, count: int, **kwargs: Any) -> list[float]:
    for _ in range(3):  # warm the connection pools and PostgreSQL's caches
        assert http.get(path, **kwargs).status_code == 200, path
    times = []
    for _ in range(count):
        started = time.perf_counter()
        response = http.get(path, **kwargs)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text[:200]
    return times


def _literal(value: Any) -> str:
    if isinstance(value, list):
        return "'{" + ",".join(v if isinstance(v, str) else v.isoformat() for v in value) + "}'"
    if isinstance(value, int):
        return str(value)
    return "'" + value.isoformat() + "'"


def _with_values(statement: Any, params: dict[str, Any]) -> str:
    sql = re.sub(r":(start|end|bounds|days|handled)\b", lambda m: _literal(params[m.group(1)]),
                 str(statement))  # fmt: skip
    return " ".join(sql.split()) + ";"


def dashboard_sql(days: DayRange) -> str:
    """The statements one view of GET /admin runs, with their values in place (pgbench)."""
    script = [
        _with_values(repository.MONEY, {"start": r.start, "end": r.end})
        for r in (last_days(1), last_days(7), last_days(30), days)
    ]
    whole = {"start": days.start, "end": days.end}
    script += [_with_values(q, whole) for q in (repository.CHECKOUTS, repository.BY_PACKAGE)]
    script.append(_with_values(repository.STANDING, {"handled": handled_types()}))
    starts = days.day_starts()
    bounds = {"bounds": starts, "days": len(starts) - 1, "start": starts[0], "end": starts[-1]}
    script.append(_with_values(repository.DAILY, bounds))
    script.append("SELECT ran_at, findings FROM audit_runs ORDER BY ran_at DESC LIMIT 1;")
    return "\n".join(script) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--students", type=int, default=10_000)
    parser.add_argument("--pgbench-seconds", type=int, default=10)
    smoke = {"payments": 200, "entries": 2000, "requests": 2, "students": 50, "pgbench_seconds": 0}
    args = parse_args(parser, argv, smoke)

    with BenchStack("dashboard") as stack:
        with psycopg.connect(stack.libpq_url, autocommit=True) as db:
            seed(db, students=args.students, payments=args.payments, entries=args.entries)
        cookie = {"Cookie": f"{COOKIE_NAME}={admin_cookie()}"}
        bearer = {"Authorization": f"Bearer {stack.make_token(ADMIN_ID)}"}
        year = last_days(365)
        runs = [
            ("GET /admin (the page: 3 cards, 30-day range)", "/admin", cookie),
            ("GET /api/admin/analytics/summary (30 days)", "/api/admin/analytics/summary",
             bearer),
            ("GET /api/admin/analytics/summary (365 days)",
             f"/api/admin/analytics/summary?from={year.first}&to={year.last}", bearer),
            ("GET /api/admin/analytics/daily (30 days)", "/api/admin/analytics/daily", bearer),
            ("GET /api/admin/analytics/daily (365 days)",
             f"/api/admin/analytics/daily?from={year.first}&to={year.last}", bearer),
        ]  # fmt: skip
        print(f"\n{args.requests} sequential requests each, after 3 warm-up requests:")
        with httpx.Client(base_url=stack.base_url, timeout=60) as http:
            for label, path, headers in runs:
                times = time_requests(http, path, args.requests, headers=headers)
                print(f"  {label:52s} median {statistics.median(times):6.1f} ms"
                      f"  p90 {percentile(times, 90):6.1f} ms")  # fmt: skip
        # The ceiling: the dashboard's own statements, one client, straight into PostgreSQL.
        tps = stack.pgbench(
            dashboard_sql(day_range(None, None)), clients=1, seconds=args.pgbench_seconds
        )
        print(f"  {'pgbench: the same SQL as one dashboard view':52s} "
              f"mean   {1000 / tps:6.1f} ms  (the ceiling)")  # fmt: skip
        print(f"\nrun at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; target: median < 150 ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
