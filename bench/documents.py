"""VAT documents issued alongside a benchmark's run: `medgrader documents backfill --watch`
in a process of its own (the issuer, as the job worker would be), and the check that every
payment then has exactly one receipt, numbered 1..n without a gap (bench/webhooks uses both)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import psycopg

from bench.stack import BenchStack


@contextlib.contextmanager
def documents_alongside(stack: BenchStack) -> Iterator[Callable[[], int]]:
    """`medgrader documents backfill --watch` running (the issuer, as the job worker would
    be); yields a function that counts the receipts issued so far. Stopped (SIGINT) at the
    end after one last pass, so that every payment has its receipt."""
    env = stack.env | {"VAT_NUMBER": "GB123456789", "SELLER_NAME": "MedGrader Bench Ltd"}
    issuer = subprocess.Popen(
        [sys.executable, "-m", "medgrader.cli", "documents", "backfill", "--watch", "0.2"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    with psycopg.connect(stack.libpq_url, autocommit=True) as db:

        def issued() -> int:
            row = db.execute("SELECT count(*) FROM documents WHERE type = 'RECEIPT'").fetchone()
            return int(row[0]) if row else 0

        try:
            # Under way (its first receipts are in) before the deliveries start: the rest of the
            # first run's backlog is issued during them.
            deadline = time.monotonic() + 60
            while issued() == 0 and issuer.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            yield issued
        finally:
            issuer.send_signal(signal.SIGINT)
            _, err = issuer.communicate(timeout=120)
            if issuer.returncode != 0:
                print(f"documents backfill exited {issuer.returncode}: {err.decode()[-2000:]}")


def check_documents(db: psycopg.Connection) -> bool:
    row = db.execute(
        """SELECT (SELECT count(*) FROM payments),
                  (SELECT count(*) FROM documents WHERE type = 'RECEIPT'),
                  (SELECT count(DISTINCT payment_id) FROM documents WHERE type = 'RECEIPT'),
                  (SELECT COALESCE(MAX(sequence), 0) FROM documents WHERE series = 'RECEIPTS')"""
    ).fetchone()
    assert row is not None
    payments, receipts, distinct, last = row
    ok = payments == receipts == distinct == last
    print(
        f"documents: {payments} payments, {receipts} receipts, numbers 1..{last} without gaps: "
        + ("OK" if ok else f"FAILED ({distinct} payments with a receipt)")
    )
    return ok
