"""Everything a running process shares, built once from Settings and passed down (by
`medgrader.runtime.open_context`)."""

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
from medgrader.db.resolve import Database
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
    # The job queue's pool (procrastinate's connections: deferring, the worker's fetches).
    job_pool: AsyncConnectionPool


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
