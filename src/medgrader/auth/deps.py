"""Who is calling: the bearer token's user, and role gates.

A token is accepted only when its signature and claims are valid (auth.tokens, no database)
AND it is still live (auth.revocation: not logged out, not ended by a password reset), checked
on the request's own session: the ORM one here, the lean one for the spend hot path.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from medgrader.auth import repository, revocation
from medgrader.auth.tokens import AccessClaims, InvalidToken, verify_access_token
from medgrader.core.context import short_transaction
from medgrader.core.deps import Ctx, DbSession, LeanDb
from medgrader.core.errors import Forbidden, Unauthorized
from medgrader.db.lean import SqlSession
from medgrader.models.users import User

bearer = HTTPBearer(auto_error=False)
# The Authorization: Bearer credentials, or None when the header is absent.
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


class InvalidAccessToken(Unauthorized):
    code, message = "invalid_token", "Invalid or expired access token."


class StudentOnly(Forbidden):
    code, message = "student_only", "Only students can do this."


async def token_claims(ctx: Ctx, credentials: BearerCredentials) -> AccessClaims:
    """The claims of a validly signed access token (no database query); 401 otherwise.
    Not enough on its own: a route must also check the token is live (below)."""
    if credentials is None:
        raise Unauthorized()
    try:
        return verify_access_token(ctx.tokens, credentials.credentials)
    except InvalidToken as exc:
        raise InvalidAccessToken() from exc


TokenClaims = Annotated[AccessClaims, Depends(token_claims)]


async def live_user_id(session: SqlSession, claims: AccessClaims) -> uuid.UUID:
    if not await revocation.is_live(session, claims):
        raise InvalidAccessToken()
    return claims.user_id


async def user_for_claims(session: AsyncSession, claims: AccessClaims) -> User:
    """The user of a live token; 401 when it was revoked or the user is gone."""
    user = await repository.user_by_id(session, await live_user_id(session, claims))
    if user is None:
        raise InvalidAccessToken()
    return user


async def current_user(session: DbSession, claims: TokenClaims) -> User:
    return await user_for_claims(session, claims)


async def lean_user_id(session: LeanDb, claims: TokenClaims) -> uuid.UUID:
    """The user id of a live token, checked on the hot path's lean session (one statement)."""
    return await live_user_id(session, claims)


LeanUserId = Annotated[uuid.UUID, Depends(lean_user_id)]


CurrentUser = Annotated[User, Depends(current_user)]


async def current_student(user: CurrentUser) -> User:
    if user.role != "student":
        raise StudentOnly()
    return user


async def current_admin(user: CurrentUser) -> User:
    if not user.is_admin:
        raise Forbidden("Administrators only.", code="admin_only")
    return user


CurrentStudent = Annotated[User, Depends(current_student)]
CurrentAdmin = Annotated[User, Depends(current_admin)]


# The same gates for endpoints that call Stripe: the caller is read in a transaction that ends
# before the endpoint runs, so no pooled connection is held while Stripe answers.
async def user_briefly(ctx: Ctx, claims: TokenClaims) -> User:
    async with short_transaction(ctx) as session:
        return await user_for_claims(session, claims)


BriefUser = Annotated[User, Depends(user_briefly)]


async def student_briefly(user: BriefUser) -> User:
    return await current_student(user)


async def admin_briefly(user: BriefUser) -> User:
    return await current_admin(user)


BriefStudent = Annotated[User, Depends(student_briefly)]
BriefAdmin = Annotated[User, Depends(admin_briefly)]
