"""The FastAPI application, built by a factory from one Settings object."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import stripe
from fastapi import FastAPI

from medgrader import __version__
from medgrader.admin.endpoints import router as admin_router
from medgrader.analytics.endpoints import router as analytics_router
from medgrader.auth.deps import bearer, current_admin, current_student, token_claims
from medgrader.auth.endpoints import router as auth_router
from medgrader.catalog.endpoints import router as catalog_router
from medgrader.checkout.endpoints import router as checkout_router
from medgrader.config import Settings
from medgrader.core.docs import install_offline_docs
from medgrader.core.errors import install_error_handlers
from medgrader.core.health import router as health_router
from medgrader.core.metrics import HttpMetricsMiddleware
from medgrader.core.metrics_endpoint import router as metrics_router
from medgrader.core.middleware import RequestGuardMiddleware
from medgrader.core.openapi import Markers, install_openapi
from medgrader.credits.endpoints import router as credits_router
from medgrader.db.resolve import Database
from medgrader.documents.admin_endpoints import router as admin_documents_router
from medgrader.documents.endpoints import router as documents_router
from medgrader.holds.endpoints import router as holds_router
from medgrader.idempotency.keys import KEY_SCHEMA
from medgrader.jobs.worker import WorkerSupervisor, start_worker_task, stop_worker_task
from medgrader.lots.endpoints import router as lots_router
from medgrader.payments.admin_endpoints import router as admin_payments_router
from medgrader.payments.endpoints import router as payments_router
from medgrader.promotions.admin_endpoints import router as admin_promotions_router
from medgrader.promotions.endpoints import router as promotions_router
from medgrader.runtime import open_context
from medgrader.security.client import request_client_address
from medgrader.security.headers import SecurityHeadersMiddleware
from medgrader.subscriptions.admin_endpoints import router as admin_plans_router
from medgrader.subscriptions.endpoints import plans_router
from medgrader.subscriptions.endpoints import router as subscriptions_router
from medgrader.topups.endpoints import router as topups_router
from medgrader.web.mount import install_pages
from medgrader.webhooks.admin_endpoints import router as admin_webhooks_router
from medgrader.webhooks.endpoints import router as webhooks_router

WEBHOOK_PREFIX = "/api/webhooks/"
# The dependencies that decide a route's shared statuses in the OpenAPI document.
OPENAPI_MARKERS = Markers(
    token_required={token_claims},
    token_optional={bearer},
    role_gates={current_student, current_admin},
    rate_limited={request_client_address},
    idempotency_key_schema=KEY_SCHEMA,
)


def create_app(
    settings: Settings,
    *,
    database: Database | None = None,
    stripe_http_client: stripe.HTTPClient | None = None,
) -> FastAPI:
    """`stripe_http_client` is for tests (see `open_context`); production passes none."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_context(
            settings, database, stripe_http_client=stripe_http_client
        ) as context:
            app.state.context = context
            app.state.worker = None
            task = None
            if settings.run_worker_in_process:
                # Supervised: it restarts itself after any failure; /health reads its heartbeat.
                app.state.worker = WorkerSupervisor(context)
                task = start_worker_task(app.state.worker)
            try:
                yield
            finally:
                if task is not None:
                    await stop_worker_task(task)

    app = FastAPI(
        title=f"{settings.app_name} credits API",
        version=__version__,
        lifespan=lifespan,
        # Off in production unless API_DOCS_ENABLED: the document maps every route for anyone.
        # /docs is served by install_offline_docs (below), its assets and all.
        docs_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
        redoc_url=None,
    )
    install_openapi(app, OPENAPI_MARKERS)
    # Middleware, innermost first: the guards; the request id and the one log line of an
    # unhandled error (install_error_handlers); the request metrics; the security headers.
    app.add_middleware(
        RequestGuardMiddleware,
        max_body_bytes=settings.max_body_bytes,
        raw_body_paths=(WEBHOOK_PREFIX,),
    )
    install_error_handlers(app)
    app.add_middleware(HttpMetricsMiddleware)
    # Added last, so outermost: the guard's and the error middleware's own answers get the
    # headers too.
    app.add_middleware(SecurityHeadersMiddleware, hsts_max_age=settings.hsts_max_age_seconds)
    if settings.docs_enabled:
        install_offline_docs(app, title=f"{settings.app_name} credits API")
    app.include_router(health_router)
    app.include_router(metrics_router)
    app.include_router(auth_router)
    app.include_router(catalog_router)
    # checkout before payments: /api/payments/checkout-* must not be taken for a payment id.
    app.include_router(checkout_router)
    app.include_router(payments_router)
    app.include_router(documents_router)
    app.include_router(webhooks_router)
    app.include_router(credits_router)
    app.include_router(promotions_router)
    app.include_router(holds_router)
    app.include_router(topups_router)
    app.include_router(lots_router)
    app.include_router(plans_router)
    app.include_router(subscriptions_router)
    app.include_router(admin_router)
    app.include_router(admin_payments_router)
    app.include_router(admin_webhooks_router)
    app.include_router(admin_promotions_router)
    app.include_router(admin_plans_router)
    app.include_router(analytics_router)
    app.include_router(admin_documents_router)
    if settings.dev_mailbox_dir is not None and not settings.is_production:
        from medgrader.dev.mailbox import mailbox_router

        app.include_router(mailbox_router(settings.dev_mailbox_dir))
    # The wallet and the back office; /credits/success and /credits/cancel are where Stripe
    # returns the buyer when FRONTEND_URL points at this app.
    install_pages(app, settings)
    return app


def app_from_environment() -> FastAPI:
    """Factory for `uvicorn --factory` (several worker processes): Settings from the environment."""
    return create_app(Settings())
