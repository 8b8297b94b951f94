"""Verifying a Google ID token the way Google documents it for a backend.

Signature, `aud`, `exp` and `iat` are checked by Google's own library (`google.auth.jwt`)
against Google's published certificates (kept by medgrader.core.adapters.google_certs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import structlog
from google.auth import exceptions as google_exceptions
from google.auth import jwt as google_jwt

from medgrader.auth.errors import GoogleSignInDisabled, InvalidGoogleToken
from medgrader.config import Settings
from medgrader.core.adapters.google_certs import GoogleCertificates

log = structlog.get_logger(__name__)

GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
# Google's tokens and our clock may disagree by a few seconds.
CLOCK_SKEW_SECONDS = 10


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
