"""Sign in with Google: find the user linked to a Google account, link one, or create one.

`sign_in_with_id_token` is the one entry point, for `POST /api/auth/google` and for the
pages' "Sign in with Google" button alike: the same token checks, the same linking, the same
welcome bonus once.

Race-safety: every sign-in of one Google account takes the same transaction-scoped advisory
lock first, so two first sign-ins cannot both create a user (or both pay a welcome bonus);
the UNIQUE google_sub and lower(email) indexes stay the last word. A password sign-up that
creates the same email at the same moment is caught by the email index (see below).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from medgrader.auth import repository
from medgrader.auth.google import GoogleConfig, GoogleIdentity, verify_id_token
from medgrader.auth.service import create_user
from medgrader.core.context import AppContext
from medgrader.core.errors import Conflict
from medgrader.models.users import User

NAME_MAX = 100  # the profile columns' length


class GoogleAccountConflict(Conflict):
    code, message = (
        "google_account_conflict",
        "This email's account is linked to a different Google account.",
    )


@dataclass(frozen=True)
class GoogleSignIn:
    user: User
    created: bool


async def _lock_google_account(session: AsyncSession, sub: str) -> None:
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"google:{sub}"}
    )


async def _user_by_sub(session: AsyncSession, sub: str) -> User | None:
    return await session.scalar(select(User).where(User.google_sub == sub))


async def _link(session: AsyncSession, user: User, identity: GoogleIdentity) -> GoogleSignIn:
    if user.email_verified_at is None:
        # Only an address someone proved they own is joined to a Google account.
        raise GoogleAccountConflict("This email's account is not verified yet.")
    if user.google_sub is not None and user.google_sub != identity.sub:
        raise GoogleAccountConflict()
    user.google_sub = identity.sub
    await session.flush()
    return GoogleSignIn(user, created=False)


async def sign_in_with_google(
    session: AsyncSession, ctx: AppContext, identity: GoogleIdentity, role: str
) -> GoogleSignIn:
    """The user for this Google account; `role` applies only to a user created now."""
    await _lock_google_account(session, identity.sub)
    linked = await _user_by_sub(session, identity.sub)
    if linked is not None:  # signs in even if the Google account's email has changed since
        return GoogleSignIn(linked, created=False)
    existing = await repository.user_by_email(session, identity.email)
    if existing is not None:
        return await _link(session, existing, identity)
    try:
        async with session.begin_nested():
            user = await create_user(
                session,
                ctx,
                email=identity.email,
                password_hash=None,
                role=role,
                first_name=identity.given_name[:NAME_MAX],
                last_name=identity.family_name[:NAME_MAX],
                google_sub=identity.sub,
            )
    except IntegrityError:
        # An email sign-up verified this address in the meantime: link to that account.
        raced = await session.scalar(
            select(User).where(func.lower(User.email) == identity.email.lower())
        )
        if raced is None:
            raise
        return await _link(session, raced, identity)
    return GoogleSignIn(user, created=True)


async def sign_in_with_id_token(
    session: AsyncSession, ctx: AppContext, id_token: str, role: str
) -> GoogleSignIn:
    """Verify a Google ID token (auth.google: 404 google_sign_in_disabled when
    GOOGLE_CLIENT_IDS is unset, 401 invalid_google_token, 503 google_unavailable) and sign its
    account in. Call it before anything else uses the session: the certificates may have to be
    fetched, and no connection should wait on Google."""
    config = GoogleConfig.from_settings(ctx.settings)
    identity = await verify_id_token(id_token, ctx.google_certs, config)
    return await sign_in_with_google(session, ctx, identity, role)
