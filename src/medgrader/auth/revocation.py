"""Is a signed access token still live? Not if logout revoked it (its jti is in
revoked_tokens) or a password reset ended it (its `ver` is older than the user's)."""

from __future__ import annotations

from sqlalchemy import text

from medgrader.auth.tokens import AccessClaims
from medgrader.db.lean import SqlSession, no_rows

# One statement for both checks, usable on the ORM session and on the lean path alike.
_LIVE = text(
    """
    SELECT u.token_version = :ver
           AND NOT EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = :jti)
      FROM users u
     WHERE u.id = :id
    """
)
_REVOKE = no_rows(
    text(
        """
        INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES (:jti, :id, :exp)
        ON CONFLICT (jti) DO NOTHING
        """
    )
)
_END_ALL = text("UPDATE users SET token_version = token_version + 1 WHERE id = :id")
_PURGE = text("DELETE FROM revoked_tokens WHERE expires_at < now()")


async def is_live(session: SqlSession, claims: AccessClaims) -> bool:
    """False also when the user no longer exists."""
    live = await session.scalar(
        _LIVE, {"id": claims.user_id, "jti": claims.jti, "ver": claims.version}
    )
    return bool(live)


async def revoke(session: SqlSession, claims: AccessClaims) -> None:
    await session.execute(
        _REVOKE, {"jti": claims.jti, "id": claims.user_id, "exp": claims.expires_at}
    )


async def end_all_tokens(session: SqlSession, user_id: object) -> None:
    await session.execute(_END_ALL, {"id": user_id})


async def purge_expired(session: SqlSession) -> int:
    result = await session.execute(_PURGE)
    return int(getattr(result, "rowcount", 0) or 0)
