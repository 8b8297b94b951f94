"""Holds benchmark: C concurrent voice "calls" over HTTP, each hold -> 10 extends -> capture.

    python -m bench.holds [--clients 32] [--calls 640] [--accounts 1000] [--smoke]

One run on a single hot account (every call reserves from the same balance, so every create,
extend and capture serializes on its balance row lock), one on distinct accounts. Prints
operations/s and p50/p99 per operation next to the pgbench ceiling of the same SQL (each
operation's own statements, taken from the code: claim the key, lock the balance row, the
hold statement, the capture's ledger debit, record the answer) at the same concurrency, and
ends by checking every balance against its ledger and the audit. A script, not a test:
nothing here asserts on speed.
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

from bench.spend import (
    APP_HOT,
    FIRST_DISTINCT,
    NO_LOT_TERMS,
    PGBENCH_HOT,
    SEED_BALANCE,
    account_id,
    pgbench_student,
    seed,
)
from bench.stack import BenchStack, RawHttpConnection, inline_sql, parse_args, percentile
from medgrader.audit.checks import CHECKS
from medgrader.holds import repository as holds_sql
from medgrader.idempotency.store import CLAIM, RECORD
from medgrader.ledger import service as ledger

EXTENDS = 10  # per call
HOLD, EXTRA = 5, 1  # credits: the opening hold, each extension
CALL_CREDITS = HOLD + EXTENDS * EXTRA  # what each call captures at the end
OPS_PER_CALL = 1 + EXTENDS + 1
MAX_ACTIVE = 100_000  # active holds per student allowed in the benchmark (see main)
TARGETS = {"hot": 0.50, "distinct": 0.25}
# The lines this script exists to print (tests/bench checks them at --smoke size).
_RUN = r" +\d+ ops/s \( *[\d.]+ calls/s\) +all p50 +[\d.]+ ms p99 +[\d.]+ ms +\| pgbench +\d+ ops/s"
FIGURES = (
    rf"^hot account{_RUN} +ratio +[\d.]+% \(target \d+%\)$",
    rf"^\d+ accounts{_RUN} +ratio +[\d.]+% \(target \d+%\)$",
    r"^ +create p50 +[\d.]+/p99 +[\d.]+ ms +extend p50 .* capture p50 +[\d.]+/p99 +[\d.]+ ms$",
    r"^check: audit clean; \d+ accounts, \d+ credits captured, .*: yes; holds left ACTIVE: 0$",
)


@dataclass
class RunResult:
    label: str
    calls: int
    seconds: float
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    captured: dict[int, int] = field(default_factory=dict)  # account -> credits captured

    @property
    def ops_rate(self) -> float:
        return self.calls * OPS_PER_CALL / self.seconds


async def calls_run(
    stack: BenchStack, *, label: str, accounts: list[int], calls: int, clients: int,
    tokens: dict[int, str],
) -> RunResult:  # fmt: skip
    run_id = uuid.uuid4().hex[:8]
    result = RunResult(label, calls, 0.0, {"create": [], "extend": [], "capture": []})
    next_call = 0

    async def op(connection: RawHttpConnection, kind: str, path: str, body: dict, n: int, key: str):  # type: ignore[no-untyped-def,type-arg]
        headers = {"Authorization": f"Bearer {tokens[n]}", "Idempotency-Key": key}
        started = time.perf_counter()
        status, raw = await connection.post(path, json.dumps(body).encode(), headers)
        result.latencies_ms[kind].append((time.perf_counter() - started) * 1000)
        if status >= 300:
            name = f"{kind} {status}"
            result.failures[name] = result.failures.get(name, 0) + 1
            return None
        return json.loads(raw)

    async def client() -> None:
        nonlocal next_call
        connection = RawHttpConnection("127.0.0.1", stack.port)
        try:
            while next_call < calls:
                i = next_call
                next_call += 1
                n = accounts[i % len(accounts)]
                key = f"bench-{run_id}-{i}"
                body = {"amount": HOLD, "reason": "bench voice call", "ttlSeconds": 900}
                hold = await op(connection, "create", "/api/credits/holds", body, n, f"{key}-h")
                if hold is None:
                    continue
                base = f"/api/credits/holds/{hold['holdId']}"
                for e in range(EXTENDS):
                    extra = {"additionalAmount": EXTRA}
                    await op(connection, "extend", f"{base}/extend", extra, n, f"{key}-e{e}")
                done = await op(connection, "capture", f"{base}/capture", {}, n, f"{key}-c")
                if done is not None:
                    result.captured[n] = result.captured.get(n, 0) + done["capturedAmount"]
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    result.seconds = time.perf_counter() - started
    return result


# -- pgbench: the same statements, straight from the code -----------------------------------


def _keyed(operation: str, tag: str, student: str, suffix: str) -> dict[str, str]:
    key = f"('pgb-' || :k || '-{suffix}')"
    return {
        "owner_id": student,
        "key": key,
        "operation": f"'{operation}'",
        "request_hash": "'0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'",
        "ledger_key": f"('{tag}:' || {student}::text || ':pgb-' || :k || '-{suffix}')",
    }


# About the size of a hold's recorded answer.
_BODY = (
    '\'{"holdId": "00000000-0000-4000-8000-000000000000", "status": "ACTIVE", "amount": 15,'
    ' "capturedAmount": 0, "reason": "bench voice call", "createdAt":'
    ' "2026-12-01T10:00:00.000000Z", "expiresAt": "2026-12-01T10:15:00.000000Z",'
    ' "availableBalance": 999999985, "transactionId": null}\'::jsonb'
)


def _transaction(operation: str, tag: str, student: str, suffix: str, *steps: str) -> str:
    keyed = _keyed(operation, tag, student, suffix)
    claim = inline_sql(CLAIM.text, keyed)
    record = inline_sql(
        RECORD.text, {**keyed, "status": "200", "body": _BODY}
    )  # the key row's answer, as every hold operation stores it
    return "\n".join(["BEGIN;", claim, *steps, record, "COMMIT;"])


def pgbench_script(*, hot: bool, accounts: int) -> str:
    """One call: a create, EXTENDS extends and a capture, each its own transaction."""
    head, student = pgbench_student(hot=hot, accounts=accounts)
    lock = inline_sql(ledger.LOCK_BALANCE.text, {"student_id": student})
    hold = "':h_id'::uuid"
    create = inline_sql(
        holds_sql.CREATE.text,
        {"student_id": student, "amount": str(HOLD), "reason": "'bench voice call'",
         "ttl_seconds": "900", "max_active": str(MAX_ACTIVE), "hold_id": "gen_random_uuid()"},
    ).rstrip(";") + "\n\\gset h_"  # fmt: skip
    # (The create and extend statements reserve the hold's credits in lots themselves.)
    parts = [head + "\\set k random(1, 9000000000000000000)"]
    parts.append(_transaction("holds.create", "hold", student, "h", lock, create))
    for e in range(EXTENDS):
        extend = inline_sql(
            holds_sql.EXTEND.text,
            {"student_id": student, "hold_id": hold, "additional": str(EXTRA),
             "ttl_seconds": "NULL", "max_amount": "1000000",
             "max_lifetime_seconds": "14400"},
        )  # fmt: skip
        parts.append(_transaction("holds.extend", "extend", student, f"e{e}", lock, extend))
    capture = inline_sql(
        holds_sql.CAPTURE.text, {"student_id": student, "hold_id": hold, "amount": "NULL"}
    )
    entry_key = f"('capture:' || {student}::text || ':pgb-' || :k || '-c')"
    debit = inline_sql(
        ledger.COVERED_DEBIT_SQL.text,
        {"student_id": student, "amount": str(CALL_CREDITS),
         "entry_type": "'DEBIT'", "source_type": "'USAGE'", "source_id": "('hold:' || ':h_id')",
         "description": "'bench voice call'",
         "metadata": '\'{"idempotencyKey": "pgb", "holdId": ":h_id"}\'::jsonb',
         "idempotency_key": entry_key, "actor_id": "NULL", **NO_LOT_TERMS, "hold_id": hold},
    )  # fmt: skip
    parts.append(_transaction("holds.capture", "capture", student, "c", lock, capture, lock, debit))
    return "\n".join(parts) + "\n"


# -- the check at the end ---------------------------------------------------------------------


def check(stack: BenchStack, runs: list[RunResult]) -> bool:
    captured: dict[int, int] = {}
    for run in runs:
        for n, credits in run.captured.items():
            captured[n] = captured.get(n, 0) + credits
    with psycopg.connect(stack.libpq_url, autocommit=True) as db:
        findings = {name: len(db.execute(query).fetchall()) for name, query in CHECKS.items()}
        rows = db.execute(
            "SELECT user_id, credit_balance FROM student_profiles WHERE user_id = ANY(%s::uuid[])",
            ([account_id(n) for n in captured],),
        ).fetchall()
        active = db.execute(
            "SELECT count(*) FROM credit_holds WHERE status = 'ACTIVE' AND student_id = ANY(%s)",
            ([account_id(n) for n in captured],),
        ).fetchone()
    by_id = {account_id(n): n for n in captured}
    wrong = [by_id[uid] for uid, bal in rows if bal != SEED_BALANCE - captured[by_id[uid]]]
    dirty = {k: v for k, v in findings.items() if v}
    left_active = active[0] if active else -1
    ok = not dirty and not wrong and len(rows) == len(captured) and left_active == 0
    print(
        f"check: audit {dirty or 'clean'}; {len(captured)} accounts, "
        f"{sum(captured.values())} credits captured, every balance = seed - captures: "
        f"{f'NO {wrong[:5]}' if wrong else 'yes'}; holds left ACTIVE: {left_active}"
    )
    return ok


def report(run: RunResult, ceiling_tps: float, target: float) -> None:
    ceiling = ceiling_tps * OPS_PER_CALL
    everything = [ms for values in run.latencies_ms.values() for ms in values]
    ratio = run.ops_rate / ceiling if ceiling else 0.0
    per_kind = "  ".join(
        f"{kind} p50 {percentile(v, 50):5.1f}/p99 {percentile(v, 99):5.1f} ms"
        for kind, v in run.latencies_ms.items()
        if v
    )
    print(
        f"{run.label:<14} {run.ops_rate:7.0f} ops/s ({run.calls / run.seconds:5.1f} calls/s)"
        f"  all p50 {percentile(everything, 50):5.1f} ms p99 {percentile(everything, 99):6.1f} ms"
        f"  | pgbench {ceiling:7.0f} ops/s  ratio {ratio:5.1%} (target {target:.0%})"
        + (f"  FAILURES {run.failures}" if run.failures else "")
    )
    print(f"{'':<14} {per_kind}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--calls", type=int, default=640, help="calls per run")
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--pgbench-seconds", type=int, default=10)
    args = parse_args(parser, argv, {"clients": 2, "calls": 4, "accounts": 5, "pgbench_seconds": 0})

    # The hot account runs every client's call at once: more live holds than one student may
    # have in production (HOLDS_MAX_ACTIVE_PER_STUDENT, default 5), on purpose.
    limits = {"HOLDS_MAX_ACTIVE_PER_STUDENT": str(MAX_ACTIVE)}
    with BenchStack(name="holds", extra_env=limits) as stack:
        distinct = list(range(FIRST_DISTINCT, FIRST_DISTINCT + args.accounts))
        pgbench_distinct = [n + args.accounts for n in distinct]
        seed(stack, [APP_HOT, PGBENCH_HOT, *distinct, *pgbench_distinct])
        tokens = {n: stack.make_token(account_id(n)) for n in [APP_HOT, *distinct]}
        print(
            f"holds benchmark: {args.clients} concurrent calls, {args.calls} calls per run "
            f"(hold, {EXTENDS} extends, capture: {OPS_PER_CALL} operations each), "
            f"{args.accounts} distinct accounts"
        )
        warm = asyncio.run(
            calls_run(stack, label="warm-up", accounts=[APP_HOT, *distinct[:50]],
                      calls=min(64, args.calls), clients=args.clients, tokens=tokens)
        )  # fmt: skip
        runs, ceilings = [warm], []
        plan = [("hot account", [APP_HOT], True), (f"{args.accounts} accounts", distinct, False)]
        for label, accounts, hot in plan:
            runs.append(
                asyncio.run(
                    calls_run(
                        stack,
                        label=label,
                        accounts=accounts,
                        calls=args.calls,
                        clients=args.clients,
                        tokens=tokens,
                    )
                )
            )
            ceilings.append(
                stack.pgbench(
                    pgbench_script(hot=hot, accounts=args.accounts),
                    clients=args.clients,
                    seconds=args.pgbench_seconds,
                )
            )
        print()
        for run, ceiling, target in zip(
            runs[1:], ceilings, (TARGETS["hot"], TARGETS["distinct"]), strict=True
        ):
            report(run, ceiling, target)
        print()
        return 0 if check(stack, runs) else 1


if __name__ == "__main__":
    sys.exit(main())
