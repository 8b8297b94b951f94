"""The browser's cookie session and its CSRF token, derived from the existing JWT secret.

The cookie is a signed token (HS256, like the API's access tokens) whose key is derived from
JWT_SECRET for this one purpose, so no new setting is needed and an access token can never
pass for a session cookie (nor the reverse). It carries the user id (absent before sign-in),
an expiry and a random CSRF secret. Every state-changing form sends that secret back in a
hidden field (HTMX requests in a header); a page on another site cannot read it, so it
cannot forge the form. The cookie is HttpOnly, SameSite=Lax and Secure outside development.
Logout and a password reset end it on the server, by the same rules as access tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from starlette.responses import Response

from medgrader.config import Environment, Settings
from medgrader.core.tokens import AccessClaims

COOKIE_NAME = "medgrader_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SESSION_TTL = timedelta(hours=8)
_ALGORITHM = "HS256"
_TYPE = "browser_session"
_KEY_LABEL = b"medgrader browser session v1"


@dataclass(frozen=True)
class BrowserSession:
    csrf: str
    user_id: uuid.UUID | None = None
    expires_at: datetime | None = None
    # The user's token_version at sign-in (a password reset bumps it, ending every session)
    # and the session's own id, revoked at logout: the access tokens' two rules
    # (auth.revocation), so a signed-out cookie is dead even if a copy was kept.
    version: int = 0
    jti: uuid.UUID | None = None

    @classmethod
    def anonymous(cls) -> BrowserSession:
        return cls(csrf=secrets.token_urlsafe(32))

    @classmethod
    def signed_in(cls, user_id: uuid.UUID, version: int = 0) -> BrowserSession:
        # A fresh CSRF secret on sign-in: one planted before it is worthless after.
        return cls(
            csrf=secrets.token_urlsafe(32),
            user_id=user_id,
            expires_at=datetime.now(UTC) + SESSION_TTL,
            version=version,
            jti=uuid.uuid4(),
        )

    def claims(self) -> AccessClaims | None:
        """As the access tokens' claims, for auth.revocation (None before sign-in)."""
        if self.user_id is None or self.jti is None or self.expires_at is None:
            return None
        return AccessClaims(self.user_id, self.jti, self.version, self.expires_at)

    def csrf_matches(self, sent: str | None) -> bool:
        return sent is not None and hmac.compare_digest(sent.encode(), self.csrf.encode())


class SessionCodec:
    """Signs and reads session cookies with a key derived from JWT_SECRET."""

    def __init__(self, settings: Settings) -> None:
        assert settings.jwt_secret is not None  # Settings fills it in outside production
        secret = settings.jwt_secret.get_secret_value().encode()
        self._key = hmac.new(secret, _KEY_LABEL, hashlib.sha256).hexdigest()
        # Secure outside development: the demo and the tests serve plain HTTP on loopback.
        self.secure = settings.environment not in (Environment.DEVELOPMENT, Environment.TEST)

    def encode(self, session: BrowserSession) -> str:
        expires = session.expires_at or datetime.now(UTC) + SESSION_TTL
        claims: dict[str, object] = {"typ": _TYPE, "csrf": session.csrf, "exp": expires}
        if session.user_id is not None:
            claims["sub"] = str(session.user_id)
            claims["ver"] = session.version
            claims["jti"] = str(session.jti)
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM)

    def decode(self, cookie: str | None) -> BrowserSession | None:
        if not cookie:
            return None
        try:
            claims = jwt.decode(
                cookie, self._key, algorithms=[_ALGORITHM], options={"require": ["exp", "typ"]}
            )
            if claims["typ"] != _TYPE or not isinstance(claims.get("csrf"), str):
                return None
            sub, version, jti = claims.get("sub"), claims.get("ver", 0), claims.get("jti")
            if not isinstance(version, int) or (sub and not isinstance(jti, str)):
                return None
            return BrowserSession(
                csrf=claims["csrf"],
                user_id=uuid.UUID(sub) if sub else None,
                expires_at=datetime.fromtimestamp(claims["exp"], UTC),
                version=version,
                jti=uuid.UUID(jti) if sub and jti else None,
            )
        except (jwt.PyJWTError, ValueError, TypeError):
            return None

    def store(self, response: Response, session: BrowserSession) -> None:
        response.set_cookie(
            COOKIE_NAME,
            self.encode(session),
            max_age=int(SESSION_TTL.total_seconds()),
            httponly=True,
            samesite="lax",
            secure=self.secure,
            path="/",
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(
            COOKIE_NAME, path="/", httponly=True, samesite="lax", secure=self.secure
        )
