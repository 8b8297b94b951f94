"""Everything a running process shares, built once from Settings and passed down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import procrastinate
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from medgrader.auth.google import GoogleCertificates
from medgrader.auth.tokens import TokenConfig
from medgrader.config import Settings
from medgrader.db.engine import create_engine, create_sessionmaker, to_libpq_url
from medgrader.db.lean import create_lean_pool
from medgrader.db.resolve import Database, resolve_database
from medgrader.jobs.queue import create_job_app
from medgrader.notifications.mailer import Mailer
from medgrader.payments.stripe_gateway import StripeGateway


@dataclass
class AppContext:
    settings: Settings
    database: Database
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    jobs: procrastinate.App
    mailer: Mailer
    tokens: TokenConfig
    stripe: StripeGateway
    # The webhook hot path's raw psycopg pool (see medgrader.db.lean).
    lean_pool: AsyncConnectionPool
    # Google's ID-token signing certificates, cached per process as Cache-Control allows.
    google_certs: GoogleCertificates


@asynccontextmanager
async def short_transaction(ctx: AppContext) -> AsyncIterator[AsyncSession]:
    """One transaction on a pooled connection: committed when the block ends, rolled back if
    it raises, and the connection back in the pool either way (jobs, and endpoints that must
    not hold a connection across a Stripe call)."""
    async with ctx.sessionmaker() as session, session.begin():
        yield session


def token_config(settings: Settings) -> TokenConfig:
    assert settings.jwt_secret is not None  # Settings fills it in outside production
    return TokenConfig(
        secret=settings.jwt_secret.get_secret_value(),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.access_token_ttl_seconds,
    )


@asynccontextmanager
async def open_context(
    settings: Settings, database: Database | None = None
) -> AsyncIterator[AppContext]:
    database = database or resolve_database(settings)
    engine = create_engine(
        database.url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
    )
    libpq_url = to_libpq_url(database.url)
    jobs = create_job_app(libpq_url)
    # Opened without waiting: a process whose database is down still starts, reports 503 on
    # /health and recovers when the database returns, instead of crash-looping.
    job_pool = AsyncConnectionPool(
        libpq_url,
        min_size=1,
        max_size=4,
        open=False,
        check=AsyncConnectionPool.check_connection,
    )
    await job_pool.open(wait=False)
    await jobs.open_async(pool=job_pool)
    stripe_gateway = StripeGateway(settings)
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
        )
    finally:
        await lean_pool.close()
        await stripe_gateway.close()
        await jobs.close_async()
        await job_pool.close()
        await engine.dispose()
