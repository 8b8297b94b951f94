"""Building a process's AppContext: the composition root shared by the API, the worker and the
CLI. It alone imports every domain's tasks (BLUEPRINTS) and hands them to the job App
(jobs.app), so neither the job runtime nor a domain imports an edge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import procrastinate
import stripe

from medgrader.audit.tasks import blueprint as audit_blueprint
from medgrader.auth.tasks import blueprint as security_blueprint
from medgrader.checkout.tasks import blueprint as checkout_blueprint
from medgrader.config import Settings
from medgrader.core.adapters.google_certs import GoogleCertificates
from medgrader.core.adapters.mailer import Mailer
from medgrader.core.adapters.stripe_gateway import StripeGateway
from medgrader.core.context import AppContext, token_config
from medgrader.db.engine import to_libpq_url
from medgrader.db.pool import PromptReconnectPool
from medgrader.db.resolve import Database, resolve_database
from medgrader.db.session import create_pool
from medgrader.documents.flows import DocumentFiles
from medgrader.documents.tasks import blueprint as documents_blueprint
from medgrader.holds.tasks import blueprint as holds_blueprint
from medgrader.idempotency.tasks import blueprint as idempotency_blueprint
from medgrader.jobs.app import create_job_app
from medgrader.lots.tasks import blueprint as lots_blueprint
from medgrader.notifications.tasks import blueprint as notifications_blueprint
from medgrader.subscriptions.tasks import blueprint as subscriptions_blueprint
from medgrader.topups.tasks import blueprint as topups_blueprint
from medgrader.webhooks.tasks import blueprint as webhooks_blueprint

# Every domain's task blueprint, by namespace (a task's registered name is "namespace:name":
# the audit's keeps "ledger" and auth's retention "security", where they were born, so that
# queued jobs keep their names). Add a domain's blueprint here.
BLUEPRINTS: dict[str, procrastinate.Blueprint] = {
    "checkout": checkout_blueprint,
    "documents": documents_blueprint,
    "holds": holds_blueprint,
    "idempotency": idempotency_blueprint,
    "ledger": audit_blueprint,
    "lots": lots_blueprint,
    "notifications": notifications_blueprint,
    "security": security_blueprint,
    "subscriptions": subscriptions_blueprint,
    "topups": topups_blueprint,
    "webhooks": webhooks_blueprint,
}


@asynccontextmanager
async def open_context(
    settings: Settings,
    database: Database | None = None,
    *,
    stripe_http_client: stripe.HTTPClient | None = None,
) -> AsyncIterator[AppContext]:
    """`stripe_http_client`: for tests only (the SDK reaches an in-process emulator through
    it); production leaves it None and the gateway makes its own."""
    database = database or resolve_database(settings)
    libpq_url = to_libpq_url(database.url)
    jobs = create_job_app(libpq_url, BLUEPRINTS)
    # Opened without waiting: a process whose database is down still starts, reports 503 on
    # /health and recovers when the database returns, instead of crash-looping.
    job_pool = PromptReconnectPool(
        libpq_url,
        min_size=1,
        max_size=4,
        open=False,
        check=PromptReconnectPool.check_connection,
        name="jobs",
    )
    await job_pool.open(wait=False)
    await jobs.open_async(pool=job_pool)
    stripe_gateway = StripeGateway(settings, http_client=stripe_http_client)
    db_pool = create_pool(
        libpq_url,
        min_size=1,
        max_size=settings.db_pool_size + settings.db_max_overflow,
        name="app",
    )
    await db_pool.open(wait=False)
    try:
        yield AppContext(
            settings=settings,
            database=database,
            jobs=jobs,
            mailer=Mailer(settings),
            tokens=token_config(settings),
            stripe=stripe_gateway,
            db_pool=db_pool,
            google_certs=GoogleCertificates(
                settings.google_certs_url, timeout=settings.google_certs_timeout_seconds
            ),
            job_pool=job_pool,
            attachments=DocumentFiles(db_pool, settings),
        )
    finally:
        await db_pool.close()
        await stripe_gateway.close()
        await jobs.close_async()
        await job_pool.close()
