"""Spend benchmark: C concurrent HTTP clients spending on one hot account, then on many.

    python -m bench.spend [--clients 32] [--count 10000] [--accounts 1000] [--workers 1] [--smoke]

Prints spends/s, p50/p99 latency and the API's peak RSS for each run, next to the pgbench
ceiling of the same SQL (the spend transaction's own statements, taken from the code) on the
same server at the same concurrency, and ends by checking every balance against its ledger.
A script, not a test: nothing here asserts on speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from dataclasses import dataclass, field

import psycopg

from bench.stack import BenchStack, RawHttpConnection, inline_sql, parse_args, percentile
from medgrader.audit.checks import CHECKS
from medgrader.db.session import create_pool
from medgrader.db.transactions import unit_of_work
from medgrader.idempotency.store import CLAIM
from medgrader.ledger import service as ledger
from medgrader.models.ledger import SourceType

APP_HOT = 0  # account numbers; each maps to a fixed UUID (see account_id)
PGBENCH_HOT = 1
FIRST_DISTINCT = 10  # app: FIRST_DISTINCT .. +accounts; pgbench: the next `accounts`
SEED_BALANCE = 1_000_000_000
# The lines this script exists to print (tests/bench checks them at --smoke size).
_RUN = r" +\d+ spends/s +p50 +[\d.]+ ms +p99 +[\d.]+ ms +peak RSS +[\d.]+ MB +\| pgbench +\d+ tps"
FIGURES = (
    rf"^hot account{_RUN} +ratio +[\d.]+% \(target \d+%\)$",
    rf"^\d+ accounts{_RUN} +ratio +[\d.]+% \(target \d+%\)$",
    r"^ledger check: audit clean; \d+ accounts, \d+ successful spends, .*: yes \(lost updates: 0\)",
)


def account_id(n: int) -> uuid.UUID:
    # Deterministic ids so that pgbench can compute an account from a random number.
    return uuid.UUID(f"00000000-0000-4000-8000-{n:012d}")


# -- seeding -------------------------------------------------------------------------------


def seed(stack: BenchStack, numbers: list[int]) -> None:
    """Students (users + profiles in SQL), then their credits through the ledger itself."""
    with psycopg.connect(stack.libpq_url, autocommit=True) as db:
        db.execute(
            """
            WITH u AS (
                INSERT INTO users (id, email, password_hash, role, email_verified_at)
                SELECT id, 'bench-' || id || '@example.com', 'x', 'student', now()
                  FROM unnest(%s::uuid[]) AS id
                RETURNING id
            )
            INSERT INTO student_profiles (user_id, first_name, last_name) SELECT id, 'B', 'S' FROM u
            """,
            ([account_id(n) for n in numbers],),
        )

    async def credit_all() -> None:
        pool = create_pool(stack.libpq_url, min_size=1, max_size=1, name="bench-seed")
        await pool.open()
        try:
            async with unit_of_work(pool) as db:
                for n in numbers:
                    await ledger.credit(
                        db,
                        student_id=account_id(n),
                        amount=SEED_BALANCE,
                        source_type=SourceType.ADMIN_ADJUSTMENT,
                        description="bench seed",
                    )
        finally:
            await pool.close()

    asyncio.run(credit_all())


# -- the load ---------------------------------------------------------------------------------


@dataclass
class RunResult:
    label: str
    count: int
    seconds: float
    latencies_ms: list[float]
    statuses: dict[int, int]
    by_account: dict[int, int] = field(default_factory=dict)  # successful spends
    rss_mb: float = 0.0

    @property
    def rate(self) -> float:
        return self.count / self.seconds


async def spend_run(
    stack: BenchStack,
    *,
    label: str,
    accounts: list[int],
    count: int,
    clients: int,
    tokens: dict[int, str],
) -> RunResult:
    host, port = "127.0.0.1", stack.port
    run_id = uuid.uuid4().hex[:8]
    next_index = 0
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    by_account: dict[int, int] = {}

    async def client() -> None:
        nonlocal next_index
        connection = RawHttpConnection(host, port)
        try:
            while next_index < count:
                i = next_index
                next_index += 1
                n = accounts[i % len(accounts)]
                body = json.dumps({"amount": 1, "reason": "bench"}).encode()
                headers = {
                    "Authorization": f"Bearer {tokens[n]}",
                    "Idempotency-Key": f"bench-{run_id}-{i}",
                }
                started = time.perf_counter()
                status, _ = await connection.post("/api/credits/spend", body, headers)
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
                if status == 201:
                    by_account[n] = by_account.get(n, 0) + 1
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    seconds = time.perf_counter() - started
    return RunResult(label, count, seconds, latencies, statuses, by_account)


# -- pgbench: the same statements, straight from the code -----------------------------------


def pgbench_student(*, hot: bool, accounts: int) -> tuple[str, str]:
    """(pgbench lines that pick the account, the SQL expression of its student id): the hot
    account, or one of pgbench's own `accounts` distinct ones (the ones after the app's)."""
    if hot:
        return "", f"'{account_id(PGBENCH_HOT)}'::uuid"
    first = FIRST_DISTINCT + accounts
    head = f"\\set n random({first}, {first + accounts - 1})\n"
    return head, "('00000000-0000-4000-8000-' || lpad(:n::text, 12, '0'))::uuid"


# A debit's lot terms (ledger_post's parameters of a credit's lot: none for a debit).
NO_LOT_TERMS = {
    "lot_kind": "NULL", "lot_source": "NULL", "expires_at": "NULL", "priority": "50",
    "value_minor": "NULL", "currency": "NULL", "hold_id": "NULL",
}  # fmt: skip


def pgbench_script(*, hot: bool, accounts: int) -> str:
    """BEGIN; claim the key; lock the balance row; the covered debit (available balance);
    COMMIT — what one HTTP spend runs."""
    head, student = pgbench_student(hot=hot, accounts=accounts)
    key = "('pgb-' || :k)"
    entry_key = f"('spend:' || {student}::text || ':pgb-' || :k)"
    claim = inline_sql(
        CLAIM.text,
        {
            "owner_id": student,
            "key": key,
            "operation": "'credits.spend'",
            "request_hash": "'0123456789abcdef'",
            "ledger_key": entry_key,
        },
    )
    debit = inline_sql(
        ledger.COVERED_DEBIT_SQL.text,
        {
            "student_id": student,
            "amount": "1",
            "entry_type": "'DEBIT'",
            "source_type": "'USAGE'",
            "source_id": "NULL",
            "description": "'bench'",
            "metadata": '\'{"idempotencyKey": "pgb"}\'::jsonb',
            "idempotency_key": entry_key,
            "actor_id": "NULL",
            **NO_LOT_TERMS,
        },
    )
    lock = inline_sql(ledger.LOCK_BALANCE.text, {"student_id": student})
    return (
        f"{head}\\set k random(1, 9000000000000000000)\nBEGIN;\n{claim}\n{lock}\n{debit}\nCOMMIT;\n"
    )


# -- the check at the end ---------------------------------------------------------------------


def check_ledger(stack: BenchStack, runs: list[RunResult], warmup: dict[int, int]) -> bool:
    ok = True
    with psycopg.connect(stack.libpq_url, autocommit=True) as db:
        findings = {name: len(db.execute(query).fetchall()) for name, query in CHECKS.items()}
        for name, found in findings.items():
            if found:
                ok = False
                print(f"  AUDIT FINDING: {name}: {found}")
        spent: dict[int, int] = dict(warmup)
        for run in runs:
            for n, c in run.by_account.items():
                spent[n] = spent.get(n, 0) + c
        rows = db.execute(
            """
            SELECT p.user_id, p.credit_balance,
                   (SELECT count(*) FROM credit_transactions t
                     WHERE t.student_id = p.user_id AND t.source_type = 'USAGE')
              FROM student_profiles p WHERE p.user_id = ANY(%s::uuid[])
            """,
            ([account_id(n) for n in spent],),
        ).fetchall()
        by_id = {account_id(n): n for n in spent}
        lost = 0
        for user_id, balance, usage_entries in rows:
            n = by_id[user_id]
            if balance != SEED_BALANCE - spent[n] or usage_entries != spent[n]:
                lost += 1
                print(f"  MISMATCH account {n}: balance {balance}, entries {usage_entries}")
        ok = ok and lost == 0 and len(rows) == len(spent)
    total = sum(spent.values())
    print(
        f"ledger check: audit {'clean' if all(v == 0 for v in findings.values()) else 'FINDINGS'}"
        f"; {len(spent)} accounts, {total} successful spends, every balance = seed - spends"
        f" and one USAGE entry per 201: {'yes' if ok else 'NO'} (lost updates: {lost})"
    )
    return ok


# -- main ---------------------------------------------------------------------------------------


def report(run: RunResult, ceiling: float, target_ratio: float) -> None:
    ratio = run.rate / ceiling if ceiling else 0.0
    non_201 = {s: c for s, c in run.statuses.items() if s != 201}
    print(
        f"{run.label:<18} {run.rate:8.0f} spends/s  p50 {percentile(run.latencies_ms, 50):6.1f} ms"
        f"  p99 {percentile(run.latencies_ms, 99):6.1f} ms  peak RSS {run.rss_mb:6.1f} MB"
        f"  | pgbench {ceiling:7.0f} tps  ratio {ratio:5.1%} (target {target_ratio:.0%})"
        + (f"  NON-201: {non_201}" if non_201 else "")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--count", type=int, default=10_000, help="spends per run")
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1, help="API worker processes")
    parser.add_argument("--pgbench-seconds", type=int, default=10)
    parser.add_argument("--pool-size", type=int, default=0, help="DB_POOL_SIZE (0: default)")
    parser.add_argument(
        "--max-overflow", type=int, default=-1, help="DB_MAX_OVERFLOW (-1: default)"
    )
    smoke = {"clients": 2, "count": 20, "accounts": 5, "workers": 1, "pgbench_seconds": 0}
    args = parse_args(parser, argv, smoke)

    extra_env = {"DB_POOL_SIZE": str(args.pool_size)} if args.pool_size else {}
    if args.max_overflow >= 0:
        extra_env["DB_MAX_OVERFLOW"] = str(args.max_overflow)
    with BenchStack(name="spend", api_workers=args.workers, extra_env=extra_env) as stack:
        distinct = list(range(FIRST_DISTINCT, FIRST_DISTINCT + args.accounts))
        pgbench_distinct = [n + args.accounts for n in distinct]
        seed(stack, [APP_HOT, PGBENCH_HOT, *distinct, *pgbench_distinct])
        tokens = {n: stack.make_token(account_id(n)) for n in [APP_HOT, *distinct]}
        print(
            f"spend benchmark: {args.clients} clients, {args.count} spends per run, "
            f"{args.workers} API worker(s), {args.accounts} distinct accounts"
        )

        # Warm-up (connections, pools, statement caches): counted in the final check only.
        warm = asyncio.run(
            spend_run(
                stack,
                label="warm-up",
                accounts=[APP_HOT, *distinct[:50]],
                count=min(2000, args.count),
                clients=args.clients,
                tokens=tokens,
            )
        )
        runs: list[RunResult] = []
        plan = [
            ("hot account", [APP_HOT], True, 0.25),
            (f"{args.accounts} accounts", distinct, False, 0.15),
        ]
        ceilings: list[float] = []
        for label, accounts, hot, _ in plan:
            with stack.rss_monitor() as rss:
                run = asyncio.run(
                    spend_run(
                        stack,
                        label=label,
                        accounts=accounts,
                        count=args.count,
                        clients=args.clients,
                        tokens=tokens,
                    )
                )
            run.rss_mb = rss.peak_mb
            runs.append(run)
            ceilings.append(
                stack.pgbench(
                    pgbench_script(hot=hot, accounts=args.accounts),
                    clients=args.clients,
                    seconds=args.pgbench_seconds,
                )
            )
        print()
        for run, ceiling, (_, _, _, target) in zip(runs, ceilings, plan, strict=True):
            report(run, ceiling, target)
        print()
        ok = check_ledger(stack, runs, warm.by_account)
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
