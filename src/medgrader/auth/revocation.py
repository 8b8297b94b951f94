"""Is a signed access token still live? Not if logout revoked it (its jti is in
revoked_tokens) or a password reset ended it (its `ver` is older than the user's)."""

from __future__ import annotations

from sqlalchemy import text

from medgrader.auth.users import User
from medgrader.core.tokens import AccessClaims
from medgrader.db.session import Db, no_rows

# The one check of a token against the database, and the user it names, in one statement (one
# round trip): no row when the user is gone, the token was revoked or its version is stale.
_LIVE_USER = text(
    """
    SELECT u.id, u.email, u.role, u.is_admin, u.token_version, u.email_verified_at
      FROM users u
     WHERE u.id = :id AND u.token_version = :ver
       AND NOT EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = :jti)
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


async def live_user(db: Db, claims: AccessClaims) -> User | None:
    """The token's user if the token is still live; None otherwise (or if the user is gone)."""
    params = {"id": claims.user_id, "jti": claims.jti, "ver": claims.version}
    row = (await db.execute(_LIVE_USER, params)).one_or_none()
    return None if row is None else User.of(row)


async def revoke(db: Db, claims: AccessClaims) -> None:
    await db.execute(_REVOKE, {"jti": claims.jti, "id": claims.user_id, "exp": claims.expires_at})


async def end_all_tokens(db: Db, user_id: object) -> None:
    await db.execute(_END_ALL, {"id": user_id})


async def purge_expired(db: Db) -> int:
    return (await db.execute(_PURGE)).rowcount
