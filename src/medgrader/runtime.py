"""Building a process's AppContext: the composition root shared by the API, the worker and the
CLI. It alone imports the job App with every domain's tasks (jobs.app), so the domain modules
can import the AppContext (core.context) without an import circle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import stripe

from medgrader.auth.google import GoogleCertificates
from medgrader.config import Settings
from medgrader.core.context import AppContext, token_config
from medgrader.db.engine import create_engine, create_sessionmaker, to_libpq_url
from medgrader.db.lean import create_lean_pool
from medgrader.db.pool import PromptReconnectPool
from medgrader.db.resolve import Database, resolve_database
from medgrader.jobs.app import create_job_app
from medgrader.notifications.mailer import Mailer
from medgrader.payments.stripe_gateway import StripeGateway


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
    engine = create_engine(
        database.url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
    )
    libpq_url = to_libpq_url(database.url)
    jobs = create_job_app(libpq_url)
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
    lean_pool = create_lean_pool(libpq_url, settings)
    await lean_pool.open(wait=False)
    try:
        yield AppContext(
            settings=settings,
            database=database,
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            jobs=jobs,
            mailer=Mailer(settings),
            tokens=token_config(settings),
            stripe=stripe_gateway,
            lean_pool=lean_pool,
            google_certs=GoogleCertificates(
                settings.google_certs_url, timeout=settings.google_certs_timeout_seconds
            ),
            job_pool=job_pool,
        )
    finally:
        await lean_pool.close()
        await stripe_gateway.close()
        await jobs.close_async()
        await job_pool.close()
        await engine.dispose()
