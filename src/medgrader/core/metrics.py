"""Prometheus metrics: every metric object of the product is defined here, once.

Domain code imports the object it updates (`metrics.SPENDS.labels(outcome=...).inc()`); the
/metrics endpoint (core/metrics_endpoint.py) renders them. Labels are always bounded sets
(route templates, outcome codes, queue names), never ids or free text.

Each process has its own registry: scrape every API and worker process (one process per
container, or one port per process); `uvicorn --workers N` would need prometheus-client's
multiprocess mode, which this product does not set up.

What is counted inside a transaction (fulfilments, spends) is counted when the outcome is
decided; the rare transaction that then fails to commit is counted too. The ledger and the
audit are the truth about money; these are for dashboards and alerts.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REGISTRY = CollectorRegistry(auto_describe=True)

# --- HTTP ---------------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "medgrader_http_requests_total",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "medgrader_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by route template and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)

# --- Money paths --------------------------------------------------------------------------
WEBHOOK_EVENTS = Counter(
    "medgrader_webhook_events_total",
    "Stripe webhook deliveries, by event type and outcome (fulfilled, duplicate, unhandled, "
    "mismatch, not_paid, ..., rejected for a bad signature, error when it rolled back).",
    ["type", "outcome"],
    registry=REGISTRY,
)
FULFILMENTS = Counter(
    "medgrader_fulfilments_total",
    "Calls of fulfill_checkout, by outcome (fulfilled = credits added).",
    ["outcome"],
    registry=REGISTRY,
)
FULFILLED_CREDITS = Counter(
    "medgrader_fulfilled_credits_total", "Credits added by purchases.", registry=REGISTRY
)
CLAWBACKS = Counter(
    "medgrader_clawbacks_total",
    "Clawback postings for money returned, by cause (refund, dispute) and outcome (taken_back, "
    "given_back when a refund failed or a dispute was won).",
    ["cause", "outcome"],
    registry=REGISTRY,
)
CLAWED_BACK_CREDITS = Counter(
    "medgrader_clawed_back_credits_total",
    "Credits taken back or given back by those postings, by direction.",
    ["direction"],
    registry=REGISTRY,
)
TOP_UP_ATTEMPTS = Counter(
    "medgrader_top_up_attempts_total",
    "Automatic top-up attempts settled, by outcome (succeeded, failed, canceled, mismatch) and "
    "reason (Stripe's decline code or error code for a failure; empty for a success).",
    ["outcome", "reason"],
    registry=REGISTRY,
)
SPENDS = Counter(
    "medgrader_spends_total",
    "Spend requests, by outcome (spent, insufficient_credits, replayed, key reused, ...).",
    ["outcome"],
    registry=REGISTRY,
)
SPENT_CREDITS = Counter("medgrader_spent_credits_total", "Credits spent.", registry=REGISTRY)
HOLDS = Counter(
    "medgrader_holds_total",
    "Credit hold operations, by action (create, extend, capture, release, expire) and outcome.",
    ["action", "outcome"],
    registry=REGISTRY,
)

# --- Jobs and pools -----------------------------------------------------------------------
JOBS = Gauge(
    "medgrader_jobs",
    "Jobs in the queue table by queue and status (read from PostgreSQL at scrape time).",
    ["queue", "status"],
    registry=REGISTRY,
)
WORKER_ALIVE = Gauge(
    "medgrader_job_worker_alive",
    "1 while this process runs a job worker whose heartbeat is fresh (as /health judges).",
    registry=REGISTRY,
)
WORKER_RESTARTS = Counter(
    "medgrader_job_worker_restarts_total",
    "Times this process's job worker stopped or failed and was started again.",
    registry=REGISTRY,
)
POOL_CONNECTIONS = Gauge(
    "medgrader_db_pool_connections",
    "Database pool connections by pool (webhooks: the application's, every request's; jobs)"
    " and state (open, in_use, max).",
    ["pool", "state"],
    registry=REGISTRY,
)


def outcome_label(outcome: object) -> str:
    """The bounded part of an outcome code: "mismatch: amount 1 != 2" -> "mismatch"."""
    return str(outcome).split(":", 1)[0].strip() or "unknown"


class HttpMetricsMiddleware:
    """Counts and times every HTTP request by its route template (the outermost middleware,
    so requests refused by the guards and 500s count too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500  # if the app dies before answering, the server answers 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            HTTP_REQUESTS.labels(route=template, method=method, status=str(status)).inc()
            HTTP_LATENCY.labels(route=template, method=method).observe(time.perf_counter() - began)
