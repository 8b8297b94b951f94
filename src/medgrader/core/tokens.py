"""Access tokens: JWT HS256 with exp, iat, iss, aud, sub, typ, jti and ver, all required on
the way in. `jti` lets logout revoke one token; `ver` is the user's token version, which a
password reset bumps to end all of their tokens (both checked in auth.revocation)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ALGORITHM = "HS256"
ACCESS_TOKEN_TYPE = "access"
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "typ", "jti", "ver"]


@dataclass(frozen=True)
class TokenConfig:
    secret: str
    issuer: str
    audience: str
    ttl_seconds: int


class InvalidToken(Exception):
    pass


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    jti: uuid.UUID
    version: int
    expires_at: datetime


def issue_access_token(
    config: TokenConfig, user_id: uuid.UUID, version: int, *, now: datetime | None = None
) -> str:
    issued = now or datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "iat": issued,
        "exp": issued + timedelta(seconds=config.ttl_seconds),
        "iss": config.issuer,
        "aud": config.audience,
        "typ": ACCESS_TOKEN_TYPE,
        "jti": str(uuid.uuid4()),
        "ver": version,
    }
    return jwt.encode(claims, config.secret, algorithm=ALGORITHM)


def verify_access_token(config: TokenConfig, token: str) -> AccessClaims:
    """The claims of a validly signed, unexpired access token; InvalidToken for anything else.
    Whether it has been revoked since is a database question (auth.revocation)."""
    try:
        claims = jwt.decode(
            token,
            config.secret,
            # Pinned: the token's own "alg" header is never trusted (no "none", no RS/HS mixups).
            algorithms=[ALGORITHM],
            audience=config.audience,
            issuer=config.issuer,
            options={"require": REQUIRED_CLAIMS},
        )
        if claims.get("typ") != ACCESS_TOKEN_TYPE:
            raise InvalidToken("wrong token type")
        version = claims["ver"]
        if not isinstance(version, int) or isinstance(version, bool):
            raise InvalidToken("ver is not an integer")
        return AccessClaims(
            user_id=uuid.UUID(str(claims["sub"])),
            jti=uuid.UUID(str(claims["jti"])),
            version=version,
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        )
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise InvalidToken(str(exc)) from exc
