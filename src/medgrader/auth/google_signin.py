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

import psycopg
from sqlalchemy import select, text, update

from medgrader.auth import repository
from medgrader.auth.errors import GoogleAccountConflict
from medgrader.auth.google import GoogleConfig, GoogleIdentity, verify_id_token
from medgrader.auth.service import create_user
from medgrader.auth.users import USER_COLUMNS, USERS, User
from medgrader.core.context import AppContext
from medgrader.db.session import Db

NAME_MAX = 100  # the profile columns' length


@dataclass(frozen=True)
class GoogleSignIn:
    user: User
    created: bool


async def _lock_google_account(db: Db, sub: str) -> None:
    await db.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"google:{sub}"}
    )


async def _user_by_sub(db: Db, sub: str) -> User | None:
    row = (await db.execute(select(*USER_COLUMNS).where(USERS.c.google_sub == sub))).one_or_none()
    return None if row is None else User.of(row)


async def _link(db: Db, user: User, identity: GoogleIdentity) -> GoogleSignIn:
    if user.email_verified_at is None:
        # Only an address someone proved they own is joined to a Google account.
        raise GoogleAccountConflict("This email's account is not verified yet.")
    linked = await db.scalar(select(USERS.c.google_sub).where(USERS.c.id == user.id))
    if linked is not None and linked != identity.sub:
        raise GoogleAccountConflict()
    await db.execute(update(USERS).where(USERS.c.id == user.id).values(google_sub=identity.sub))
    return GoogleSignIn(user, created=False)


async def sign_in_with_google(
    db: Db, ctx: AppContext, identity: GoogleIdentity, role: str
) -> GoogleSignIn:
    """The user for this Google account; `role` applies only to a user created now."""
    await _lock_google_account(db, identity.sub)
    linked = await _user_by_sub(db, identity.sub)
    if linked is not None:  # signs in even if the Google account's email has changed since
        return GoogleSignIn(linked, created=False)
    existing = await repository.user_by_email(db, identity.email)
    if existing is not None:
        return await _link(db, existing, identity)
    try:
        async with db.savepoint():
            user = await create_user(
                db,
                ctx,
                email=identity.email,
                password_hash=None,
                role=role,
                first_name=identity.given_name[:NAME_MAX],
                last_name=identity.family_name[:NAME_MAX],
                google_sub=identity.sub,
            )
    except psycopg.IntegrityError:
        # An email sign-up verified this address in the meantime: link to that account.
        raced = await repository.user_by_email(db, identity.email)
        if raced is None:
            raise
        return await _link(db, raced, identity)
    return GoogleSignIn(user, created=True)


async def sign_in_with_id_token(db: Db, ctx: AppContext, id_token: str, role: str) -> GoogleSignIn:
    """Verify a Google ID token (auth.google: 404 google_sign_in_disabled when
    GOOGLE_CLIENT_IDS is unset, 401 invalid_google_token, 503 google_unavailable) and sign its
    account in. Call it before anything else uses the unit of work: the certificates may have
    to be fetched, and no connection should wait on Google (the unit of work takes its
    connection at its first statement)."""
    config = GoogleConfig.from_settings(ctx.settings)
    identity = await verify_id_token(id_token, ctx.google_certs, config)
    return await sign_in_with_google(db, ctx, identity, role)
