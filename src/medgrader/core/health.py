"""GET /health (is everything this process needs working?) and GET /health/live (is the
process up at all?).

/health checks the database, the application's pool (reported as `webhookPool`, the name
the contract has always had: it is the pool the webhook runs on, like every request) and the
job worker, and answers 200 with each check's figures, or 503 naming what is wrong. The job
worker is this process's own (its heartbeat as the database last confirmed it) or, in an API
process that runs none
(RUN_WORKER_IN_PROCESS=false), the freshest heartbeat of any worker: either way a heartbeat
older than WORKER_DEAD_AFTER_SECONDS (60 s) means the worker is dead. /health/live touches
nothing and is what a liveness probe should call (a database outage must not get every API
process restarted).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from medgrader.core.context import AppContext
from medgrader.core.deps import Ctx
from medgrader.core.openapi import errors
from medgrader.core.worker_health import WorkerHealth
from medgrader.db.pool import pool_usage

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_SECONDS = 3.0
_FRESHEST_HEARTBEAT = (
    "SELECT extract(epoch FROM now() - max(last_heartbeat))::float8 FROM procrastinate_workers"
)


@dataclass
class Check:
    ok: bool
    details: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None
    code: str | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": "ok" if self.ok else "failing", **self.details}
        if self.problem:
            body["problem"] = self.problem
        return body


async def _database(ctx: AppContext) -> tuple[Check, float | None]:
    """SELECT 1, and the freshest worker heartbeat of the whole deployment on the way."""
    try:
        # The job queue's pool checks a connection before handing it out: the database
        # itself is what this asks (the application's pool is the next check).
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            async with ctx.job_pool.connection(timeout=CHECK_TIMEOUT_SECONDS) as connection:
                row = await (await connection.execute(_FRESHEST_HEARTBEAT)).fetchone()
                freshest = None if row is None else row[0]
    except Exception:  # any failure to answer is "unavailable"
        return Check(False, problem="the database does not answer", code="db_unavailable"), None
    return Check(True), freshest


async def _webhook_pool(ctx: AppContext) -> Check:
    usage = pool_usage(ctx.db_pool)
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            async with ctx.db_pool.connection(timeout=CHECK_TIMEOUT_SECONDS) as connection:
                await connection.execute("SELECT 1")
    except Exception:
        return Check(
            False,
            usage,
            problem="the application's pool has no working connection",
            code="webhook_pool_unavailable",
        )
    return Check(True, usage)


def _job_worker(ctx: AppContext, supervisor: WorkerHealth | None, freshest: float | None) -> Check:
    limit = ctx.settings.worker_dead_after_seconds
    if supervisor is not None:
        age = supervisor.seconds_since_beat()
        details: dict[str, Any] = {
            "inProcess": True,
            "secondsSinceHeartbeat": round(age, 1),
            "restarts": supervisor.restarts,
        }
        if supervisor.last_error:
            details["lastError"] = supervisor.last_error
    else:
        age = float("inf") if freshest is None else freshest
        details = {
            "inProcess": False,
            "secondsSinceHeartbeat": None if freshest is None else round(freshest, 1),
        }
    if age > limit:
        return Check(
            False,
            details,
            problem=f"the job worker has not beaten for more than {limit:g} s",
            code="job_worker_dead",
        )
    return Check(True, details)


@router.get("/health/live")
async def liveness() -> JSONResponse:
    return JSONResponse({"status": "alive"})


@router.get(
    "/health",
    responses=errors(
        503,
        s503="db_unavailable, webhook_pool_unavailable or job_worker_dead: what is wrong",
    ),
)
async def health(ctx: Ctx, request: Request) -> JSONResponse:
    supervisor: WorkerHealth | None = getattr(request.app.state, "worker", None)
    (database, freshest), webhook_pool = await asyncio.gather(_database(ctx), _webhook_pool(ctx))
    checks = {
        "database": database,
        "webhookPool": webhook_pool,
        # Without the database, a worker elsewhere cannot be seen (the database check fails).
        "jobWorker": (
            _job_worker(ctx, supervisor, freshest)
            if database.ok or supervisor is not None
            else Check(False, problem=None)
        ),
    }
    failing = [check for check in checks.values() if not check.ok and check.problem]
    body: dict[str, Any] = {
        "status": "ok" if not failing else "unavailable",
        "checks": {name: check.as_json() for name, check in checks.items()},
    }
    if not failing:
        return JSONResponse(body)
    body["error"] = "Unhealthy: " + "; ".join(str(check.problem) for check in failing) + "."
    body["code"] = failing[0].code
    return JSONResponse(body, status_code=503)
