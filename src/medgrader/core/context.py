"""Everything a running process shares, built once from Settings and passed down (by
`medgrader.runtime.open_context`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import procrastinate
from psycopg_pool import AsyncConnectionPool

from medgrader.config import Settings
from medgrader.core.adapters.google_certs import GoogleCertificates
from medgrader.core.adapters.mailer import Mailer
from medgrader.core.adapters.stripe_gateway import StripeGateway
from medgrader.core.attachments import DocumentAttachments, NoAttachments
from medgrader.core.tokens import TokenConfig
from medgrader.db.resolve import Database


@dataclass
class AppContext:
    settings: Settings
    database: Database
    # The application's transactions (medgrader.db.transactions): every request, job and
    # command, the hot paths included.
    db_pool: AsyncConnectionPool
    jobs: procrastinate.App
    mailer: Mailer
    tokens: TokenConfig
    stripe: StripeGateway
    # Google's ID-token signing certificates, cached per process as Cache-Control allows.
    google_certs: GoogleCertificates
    # The job queue's pool (procrastinate's connections: deferring, the worker's fetches).
    job_pool: AsyncConnectionPool
    # The VAT documents the emails attach (set by runtime.open_context; see core.attachments).
    attachments: DocumentAttachments = field(default_factory=NoAttachments)


def token_config(settings: Settings) -> TokenConfig:
    assert settings.jwt_secret is not None  # Settings fills it in outside production
    return TokenConfig(
        secret=settings.jwt_secret.get_secret_value(),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.access_token_ttl_seconds,
    )
