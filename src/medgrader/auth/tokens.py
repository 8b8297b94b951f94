"""Access tokens: JWT HS256 with exp, iat, iss, aud, sub and typ, all required on the way in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ALGORITHM = "HS256"
ACCESS_TOKEN_TYPE = "access"
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "typ"]


@dataclass(frozen=True)
class TokenConfig:
    secret: str
    issuer: str
    audience: str
    ttl_seconds: int


class InvalidToken(Exception):
    pass


def issue_access_token(
    config: TokenConfig, user_id: uuid.UUID, *, now: datetime | None = None
) -> str:
    issued = now or datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "iat": issued,
        "exp": issued + timedelta(seconds=config.ttl_seconds),
        "iss": config.issuer,
        "aud": config.audience,
        "typ": ACCESS_TOKEN_TYPE,
    }
    return jwt.encode(claims, config.secret, algorithm=ALGORITHM)


def verify_access_token(config: TokenConfig, token: str) -> uuid.UUID:
    """The user id in a valid access token; InvalidToken for anything else."""
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
        return uuid.UUID(str(claims["sub"]))
    except (jwt.PyJWTError, ValueError) as exc:
        raise InvalidToken(str(exc)) from exc
