"""One Settings object, built once from the environment (and an optional `.env`) and passed down."""

from __future__ import annotations

import re
import secrets
from decimal import Decimal
from enum import StrEnum
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    PRODUCTION = "production"
    DEVELOPMENT = "development"
    TEST = "test"


class ConfigurationError(RuntimeError):
    """Raised at start-up when the configuration cannot run safely."""


# "<hits>/<seconds>": at most `hits` requests per window of `seconds` (see security.limits).
RateLimitSpec = Annotated[str, Field(pattern=r"^[1-9]\d*/[1-9]\d*$")]


_UK_VAT_NUMBER = re.compile(r"^GB(\d{9}|\d{12})$")


def normalise_vat_number(value: str) -> str:
    """Upper case, without the spaces people write in (GB 123 4567 89)."""
    return re.sub(r"[\s.-]", "", value).upper()


def is_uk_vat_number(value: str) -> bool:
    """GB and 9 digits (or 12: a branch of a VAT group), as HMRC issues them."""
    return _UK_VAT_NUMBER.fullmatch(normalise_vat_number(value)) is not None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # Production is the default so that a forgotten variable fails loudly instead of
    # silently running with generated secrets.
    environment: Environment = Environment.PRODUCTION
    app_name: str = "MedGrader"

    database_url: str | None = None
    data_dir: Path = Path(".data")
    # Per process: the application's one pool holds at most DB_POOL_SIZE + DB_MAX_OVERFLOW
    # connections (the job queue has its own few). Small on purpose: with a couple of cores,
    # more connections than busy backends only adds waiters on hot rows (bench/spend: p99 fell
    # from ~140 to ~100 ms going from 10 to 4; 5 is what the hot paths had when they ran on a
    # pool of their own). No connection is held across a Stripe call, so few are enough.
    db_pool_size: int = 5
    db_max_overflow: int = 0

    jwt_secret: SecretStr | None = None
    jwt_issuer: str = "medgrader"
    jwt_audience: str = "medgrader-api"
    access_token_ttl_seconds: int = 3600
    # argon2id's cost (auth.passwords). The defaults are production's and its floor (refused
    # below them there); tests set a cheap profile.
    password_hash_time_cost: int = Field(default=3, ge=1)
    password_hash_memory_kib: int = Field(default=65536, ge=8)
    password_hash_parallelism: int = Field(default=4, ge=1)

    stripe_secret_key: SecretStr | None = None
    # Comma-separated: during a webhook secret roll both the old and the new secret are valid.
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: str = "https://api.stripe.com"
    stripe_timeout_seconds: float = 20.0

    frontend_url: str = "http://localhost:3000"

    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_pass: SecretStr | None = None
    smtp_use_tls: bool = False
    smtp_start_tls: bool = False
    smtp_timeout_seconds: float = 10.0
    mail_from: str = "MedGrader <no-reply@medgrader.local>"
    # Receipt emails retry SMTP failures after base * 2**attempt seconds, capped at max.
    receipt_retry_base_seconds: float = Field(default=30.0, gt=0)
    receipt_retry_max_seconds: float = Field(default=3600.0, gt=0)

    welcome_bonus_credits: int = Field(default=100, ge=0, le=100_000)
    # Welcome-bonus credits expire this many days after they are given; 0: never.
    welcome_bonus_expires_days: int = Field(default=90, ge=0, le=36_500)
    # Students are emailed this many days before their credits expire (once per lot).
    expiry_reminder_days: int = Field(default=7, ge=1, le=365)

    # Credit holds: at most this many active at once per student (one more is 409
    # too_many_holds), and none lives longer than this from its creation (an extension past it
    # is 409 hold_lifetime_exceeded).
    holds_max_active_per_student: int = Field(default=5, ge=1)
    hold_max_lifetime_seconds: int = Field(default=14_400, ge=60)

    # Stored Stripe events processed (or of a type no handler acts on) are deleted this many
    # days after they came, by a daily job; 0 keeps them forever. Failed and waiting events
    # are kept whatever their age.
    webhook_event_retention_days: int = Field(default=90, ge=0)

    # VAT documents (medgrader.documents). Prices include VAT. VAT_NUMBER unset: the seller is
    # not VAT-registered and documents are plain receipts with no VAT lines. SELLER_ADDRESS's
    # lines are separated by newlines (or the two characters backslash-n, as an env var).
    seller_name: str = Field(default="MedGrader", min_length=1, max_length=200)
    seller_address: str = Field(default="", max_length=1000)
    vat_number: str | None = None
    vat_rate_percent: Decimal = Field(default=Decimal(20), ge=0, le=100, decimal_places=2)
    document_number_prefix: str = Field(default="MG", pattern=r"^[A-Z][A-Z0-9]{0,9}$")

    otp_ttl_seconds: int = 600
    otp_max_attempts: int = 5
    otp_resend_interval_seconds: int = 60
    otp_max_sends_per_hour: int = 5

    # Sign in with Google: the OAuth client ids whose ID tokens we accept (comma-separated;
    # unset turns the feature off), an optional Workspace domain (`hd` claim) and where
    # Google publishes its signing certificates.
    google_client_ids: str = ""
    google_hosted_domain: str | None = None
    google_certs_url: str = "https://www.googleapis.com/oauth2/v1/certs"
    google_certs_timeout_seconds: float = Field(default=5.0, gt=0)

    # Abuse limits, "<hits>/<seconds>" per fixed window, counted in PostgreSQL (shared by every
    # API process). Per email, the code limits come from the OTP settings above.
    rate_limit_login_per_account: RateLimitSpec = "10/900"
    rate_limit_login_per_address: RateLimitSpec = "100/900"
    rate_limit_codes_per_address: RateLimitSpec = "20/3600"  # sign-up and reset codes sent
    rate_limit_verify_per_address: RateLimitSpec = "50/900"  # codes tried
    rate_limit_checkout_per_student: RateLimitSpec = "10/600"
    # Behind a reverse proxy: the header that carries the client address (e.g.
    # X-Forwarded-For), believed only from the proxies listed (IPs or CIDRs, comma-separated).
    trusted_proxy_header: str | None = None
    trusted_proxies: str = ""

    # Strict-Transport-Security max-age; 0 (the default) sends none. Set it when served by HTTPS.
    hsts_max_age_seconds: int = Field(default=0, ge=0)
    # /docs and /openapi.json: on outside production, off in production unless set to true.
    api_docs_enabled: bool | None = None

    max_body_bytes: int = 1024 * 1024
    run_worker_in_process: bool = True
    # /health calls a job worker dead when its heartbeat is older than this.
    worker_dead_after_seconds: float = Field(default=60.0, gt=0)
    # Production: /metrics needs "Authorization: Bearer <METRICS_TOKEN>"; unset, it is 404.
    # Open in development and tests.
    metrics_token: SecretStr | None = None
    # Development only: a folder of received mail that /dev/mailbox shows (the demo's sink).
    dev_mailbox_dir: Path | None = None

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @model_validator(mode="after")
    def _secrets_present(self) -> Self:
        missing = [
            name.upper()
            for name in ("jwt_secret", "stripe_secret_key", "stripe_webhook_secret")
            if getattr(self, name) is None or not getattr(self, name).get_secret_value()
        ]
        if missing and self.is_production:
            raise ConfigurationError(
                "missing required secrets for production: " + ", ".join(missing)
            )
        if (
            self.jwt_secret is not None
            and self.is_production
            and len(self.jwt_secret.get_secret_value()) < 32
        ):
            raise ConfigurationError("JWT_SECRET must be at least 32 characters")
        if self.is_production and (
            self.password_hash_time_cost < 3
            or self.password_hash_memory_kib < 65536
            or self.password_hash_parallelism < 4
        ):
            raise ConfigurationError(
                "PASSWORD_HASH_* may not go below argon2's defaults (3 passes, 65536 KiB, "
                "4 lanes) in production"
            )
        if self.jwt_secret is None:
            # Development and tests only (production refused above): tokens die with the process.
            self.jwt_secret = SecretStr(secrets.token_urlsafe(48))
        if self.trusted_proxy_header and not self.trusted_proxy_networks:
            raise ConfigurationError("TRUSTED_PROXY_HEADER needs TRUSTED_PROXIES (who may set it)")
        if self.vat_number is not None:
            normalised = normalise_vat_number(self.vat_number)
            if normalised == "":
                self.vat_number = None  # VAT_NUMBER= (empty): not registered
            elif not is_uk_vat_number(normalised):
                raise ConfigurationError(
                    "VAT_NUMBER must be GB followed by 9 or 12 digits (or unset when not "
                    "VAT-registered)"
                )
            else:
                self.vat_number = normalised
        if self.dev_mailbox_dir is not None and self.is_production:
            raise ConfigurationError("DEV_MAILBOX_DIR is a development feature")
        return self

    @property
    def seller_address_lines(self) -> list[str]:
        lines = self.seller_address.replace("\\n", "\n").split("\n")
        return [line.strip() for line in lines if line.strip()]

    @property
    def docs_enabled(self) -> bool:
        return (
            self.api_docs_enabled if self.api_docs_enabled is not None else not self.is_production
        )

    @property
    def trusted_proxy_networks(self) -> list[IPv4Network | IPv6Network]:
        return [
            ip_network(part.strip(), strict=False)
            for part in self.trusted_proxies.split(",")
            if part.strip()
        ]

    @property
    def google_client_id_list(self) -> list[str]:
        return [part.strip() for part in self.google_client_ids.split(",") if part.strip()]

    @property
    def webhook_secrets(self) -> list[str]:
        if self.stripe_webhook_secret is None:
            return []
        raw = self.stripe_webhook_secret.get_secret_value()
        return [part.strip() for part in raw.split(",") if part.strip()]
