"""Who is calling: THE user dependency, and the role gates on top of it.

A bearer token is accepted when its signature and claims are valid (core.tokens, no database)
AND it is still live, which one statement checks on the request's unit of work (not revoked,
not ended by a password reset, the user still there: auth.revocation), returning the user. One
round trip, on every route that needs a caller, the spend included.

An endpoint that calls Stripe uses the same dependency: the check is the first statement of
its unit of work, and the endpoint wraps the Stripe call in `external_call(db)`, which commits
that first transaction and gives its connection back before Stripe is asked.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from medgrader.auth import revocation
from medgrader.auth.errors import AdminOnly, InvalidAccessToken, StudentOnly
from medgrader.auth.users import User
from medgrader.core.deps import Ctx, RequestDb
from medgrader.core.errors import Unauthorized
from medgrader.core.tokens import AccessClaims, InvalidToken, verify_access_token
from medgrader.db.session import Db

bearer = HTTPBearer(auto_error=False)
# The Authorization: Bearer credentials, or None when the header is absent.
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


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


async def user_for_claims(db: Db, claims: AccessClaims) -> User:
    """The user of a live token; InvalidAccessToken (401) when it was revoked, ended or its
    user is gone. The pages check their cookie session's claims with it too."""
    user = await revocation.live_user(db, claims)
    if user is None:
        raise InvalidAccessToken()
    return user


async def current_user(db: RequestDb, claims: TokenClaims) -> User:
    return await user_for_claims(db, claims)


CurrentUser = Annotated[User, Depends(current_user)]


async def current_student(user: CurrentUser) -> User:
    if not user.is_student:
        raise StudentOnly()
    return user


async def current_admin(user: CurrentUser) -> User:
    if not user.is_admin:
        raise AdminOnly()
    return user


CurrentStudent = Annotated[User, Depends(current_student)]
CurrentAdmin = Annotated[User, Depends(current_admin)]
