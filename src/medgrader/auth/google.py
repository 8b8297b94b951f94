"""Verifying a Google ID token the way Google documents it for a backend.

Signature, `aud`, `exp` and `iat` are checked by Google's own library (`google.auth.jwt`)
against Google's published certificates. The certificates are fetched from GOOGLE_CERTS_URL
and kept as long as their Cache-Control allows, so a sign-in normally costs no request to
Google; concurrent sign-ins on a cold cache share one fetch.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx
import structlog
from google.auth import exceptions as google_exceptions
from google.auth import jwt as google_jwt

from medgrader.config import Settings
from medgrader.core.errors import NotFound, ServiceUnavailable, Unauthorized

log = structlog.get_logger(__name__)

GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
# Google's tokens and our clock may disagree by a few seconds.
CLOCK_SKEW_SECONDS = 10
# Never trust a cache lifetime longer than a day, whatever a (misconfigured) server says.
MAX_CACHE_SECONDS = 24 * 3600
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?", re.IGNORECASE)


class InvalidGoogleToken(Unauthorized):
    code, message = "invalid_google_token", "The Google sign-in could not be verified."


class GoogleSignInDisabled(NotFound):
    code, message = "google_sign_in_disabled", "Sign-in with Google is not enabled."


class GoogleUnavailable(ServiceUnavailable):
    code, message = "google_unavailable", "Google's certificates could not be fetched; try again."


def cache_lifetime(headers: Mapping[str, str]) -> float:
    """Seconds a response may be reused according to its Cache-Control (and Age) headers."""
    cache_control = headers.get("cache-control", "")
    if re.search(r"no-store|no-cache", cache_control, re.IGNORECASE):
        return 0.0
    match = _MAX_AGE.search(cache_control)
    if match is None:
        return 0.0
    age = headers.get("age", "0")
    lifetime = int(match.group(1)) - (int(age) if age.isdigit() else 0)
    return float(min(max(lifetime, 0), MAX_CACHE_SECONDS))


class GoogleCertificates:
    """Google's signing certificates ({key id: PEM}), fetched when the cached copy is stale."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._clock = clock
        self._certs: dict[str, str] | None = None
        self._fresh_until = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0  # for operators and tests: how many times Google was asked

    async def get(self) -> dict[str, str]:
        if self._certs is not None and self._clock() < self._fresh_until:
            return self._certs
        async with self._lock:  # one fetch for all the sign-ins waiting on a stale cache
            if self._certs is not None and self._clock() < self._fresh_until:
                return self._certs
            try:
                certs, lifetime = await self._fetch()
            except (httpx.HTTPError, ValueError) as exc:
                if self._certs is not None:
                    # Google's keys rotate slowly: a stale copy beats refusing every sign-in.
                    log.warning("google certificates refresh failed; using the cached copy")
                    return self._certs
                raise GoogleUnavailable() from exc
            self._certs, self._fresh_until = certs, self._clock() + lifetime
            return certs

    async def _fetch(self) -> tuple[dict[str, str], float]:
        self.fetches += 1
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            response = await client.get(self.url)
        response.raise_for_status()
        body = response.json()
        if not isinstance(body, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in body.items()
        ):
            raise ValueError("certificates are not a {key id: PEM} object")
        return body, cache_lifetime(response.headers)


@dataclass(frozen=True)
class GoogleIdentity:
    sub: str
    email: str
    given_name: str
    family_name: str


@dataclass(frozen=True)
class GoogleConfig:
    client_ids: tuple[str, ...]
    hosted_domain: str | None

    @classmethod
    def from_settings(cls, settings: Settings) -> GoogleConfig:
        return cls(tuple(settings.google_client_id_list), settings.google_hosted_domain or None)


def _claims_to_identity(claims: Mapping[str, object], config: GoogleConfig) -> GoogleIdentity:
    if claims.get("iss") not in GOOGLE_ISSUERS:
        raise ValueError("wrong issuer")
    # Older tokens carried the string "true"; anything else is unverified.
    if claims.get("email_verified") not in (True, "true"):
        raise ValueError("email not verified")
    if config.hosted_domain is not None and claims.get("hd") != config.hosted_domain:
        raise ValueError("wrong hosted domain")
    sub, email = claims.get("sub"), claims.get("email")
    if not isinstance(sub, str) or not sub or not isinstance(email, str) or "@" not in email:
        raise ValueError("sub or email missing")
    given, family = claims.get("given_name"), claims.get("family_name")
    name = claims.get("name")
    return GoogleIdentity(
        sub=sub,
        email=email.lower(),
        given_name=(given if isinstance(given, str) and given else None)
        or (name if isinstance(name, str) and name else email.split("@", 1)[0]),
        family_name=family if isinstance(family, str) else "",
    )


async def verify_id_token(
    token: str, certificates: GoogleCertificates, config: GoogleConfig
) -> GoogleIdentity:
    """The Google account behind a valid ID token; InvalidGoogleToken for anything else."""
    if not config.client_ids:
        raise GoogleSignInDisabled()
    certs = await certificates.get()
    try:
        claims = google_jwt.decode(
            token,
            certs=certs,
            audience=list(config.client_ids),
            clock_skew_in_seconds=CLOCK_SKEW_SECONDS,
        )
        identity = _claims_to_identity(claims, config)
    except (ValueError, TypeError, KeyError, google_exceptions.GoogleAuthError) as exc:
        log.info("google id token refused", reason=str(exc)[:200])
        raise InvalidGoogleToken() from exc
    return identity
