"""Who is calling: the bearer token's user, and role gates."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from medgrader.auth import repository
from medgrader.auth.tokens import InvalidToken, verify_access_token
from medgrader.core.context import short_transaction
from medgrader.core.deps import Ctx, DbSession
from medgrader.core.errors import Forbidden, Unauthorized
from medgrader.models.users import User

_bearer = HTTPBearer(auto_error=False)
# The Authorization: Bearer credentials, or None when the header is absent.
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


class InvalidAccessToken(Unauthorized):
    code, message = "invalid_token", "Invalid or expired access token."


class StudentOnly(Forbidden):
    code, message = "student_only", "Only students can do this."


async def token_user_id(ctx: Ctx, credentials: BearerCredentials) -> uuid.UUID:
    """The user id of a valid access token (no database query); 401 otherwise."""
    if credentials is None:
        raise Unauthorized()
    try:
        return verify_access_token(ctx.tokens, credentials.credentials)
    except InvalidToken as exc:
        raise InvalidAccessToken() from exc


TokenUserId = Annotated[uuid.UUID, Depends(token_user_id)]


async def current_user(session: DbSession, user_id: TokenUserId) -> User:
    user = await repository.user_by_id(session, user_id)
    if user is None:
        raise InvalidAccessToken()
    return user


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
async def user_briefly(ctx: Ctx, user_id: TokenUserId) -> User:
    async with short_transaction(ctx) as session:
        return await current_user(session, user_id)


BriefUser = Annotated[User, Depends(user_briefly)]


async def student_briefly(user: BriefUser) -> User:
    return await current_student(user)


async def admin_briefly(user: BriefUser) -> User:
    return await current_admin(user)


BriefStudent = Annotated[User, Depends(student_briefly)]
BriefAdmin = Annotated[User, Depends(admin_briefly)]
