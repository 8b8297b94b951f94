"""GET /metrics: the Prometheus text format; behind a bearer token in production.

Production: with METRICS_TOKEN unset the route answers 404 as if it did not exist; with it set,
`Authorization: Bearer <METRICS_TOKEN>` is required (401 otherwise). Development, the demo and
tests: open. Queue and pool figures are read at scrape time.
"""

from __future__ import annotations

import asyncio
import hmac

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from medgrader.core import metrics
from medgrader.core.context import AppContext
from medgrader.core.deps import Ctx
from medgrader.core.errors import NotFound, Unauthorized
from medgrader.core.worker_health import WorkerHealth
from medgrader.db.pool import pool_usage

log = structlog.get_logger(__name__)
router = APIRouter(include_in_schema=False)

_JOB_COUNTS = (
    "SELECT queue_name, status::text AS status, count(*) AS n"
    " FROM procrastinate_jobs GROUP BY queue_name, status"
)


def _authorise(ctx: AppContext, request: Request) -> None:
    settings = ctx.settings
    if not settings.is_production:
        return
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    if not token:
        raise NotFound("No such route.")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), token):
        raise Unauthorized("A valid metrics token is required.")


async def _refresh_jobs(ctx: AppContext) -> None:
    try:
        async with asyncio.timeout(2.0), ctx.job_pool.connection(timeout=2.0) as connection:
            rows = await (await connection.execute(_JOB_COUNTS)).fetchall()
    except Exception as exc:  # the scrape still answers; the figures are left as they were
        log.warning("metrics: job counts unavailable", error=repr(exc))
        return
    metrics.JOBS.clear()
    for queue, status, n in rows:
        metrics.JOBS.labels(queue=queue, status=status).set(n)


def _refresh_pools(ctx: AppContext) -> None:
    # The application's pool keeps the label it had when only the webhook used it.
    for name, pool in (("webhooks", ctx.db_pool), ("jobs", ctx.job_pool)):
        usage = pool_usage(pool)
        metrics.POOL_CONNECTIONS.labels(pool=name, state="open").set(usage["size"])
        metrics.POOL_CONNECTIONS.labels(pool=name, state="in_use").set(usage["inUse"])
        metrics.POOL_CONNECTIONS.labels(pool=name, state="max").set(usage["max"])


def _refresh_worker(ctx: AppContext, request: Request) -> None:
    """Alive as /health judges it: a heartbeat confirmed within WORKER_DEAD_AFTER_SECONDS."""
    supervisor: WorkerHealth | None = getattr(request.app.state, "worker", None)
    alive = (
        supervisor is not None
        and supervisor.seconds_since_beat() <= ctx.settings.worker_dead_after_seconds
    )
    metrics.WORKER_ALIVE.set(1 if alive else 0)


@router.get("/metrics")
async def prometheus_metrics(ctx: Ctx, request: Request) -> Response:
    _authorise(ctx, request)
    await _refresh_jobs(ctx)
    _refresh_pools(ctx)
    _refresh_worker(ctx, request)
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)
