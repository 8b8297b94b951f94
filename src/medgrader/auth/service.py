"""Sign-up with an emailed one-time code, sign-in, and admin creation.

Every function runs in the caller's transaction and never commits. The abuse limits are
counted by the edge first (auth.flows), and slow work that needs no database (a password hash)
runs between transactions there, so no connection waits on it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as upsert

from medgrader.auth import otp, repository
from medgrader.auth.errors import EmailUnavailable, InvalidCode, InvalidCredentials
from medgrader.auth.passwords import burn_verification_time, hash_password, verify_password
from medgrader.auth.schemas import RegisterRequest
from medgrader.auth.users import USER_COLUMNS, USERS, User
from medgrader.config import Settings
from medgrader.core.adapters.mailer import MailDeliveryError
from medgrader.core.context import AppContext
from medgrader.core.errors import RateLimited
from medgrader.db.session import Db
from medgrader.ledger import service as ledger
from medgrader.models.ledger import SourceType
from medgrader.notifications.emails import otp_email, signup_attempt_email

LOCKED_CODE_MESSAGE = "Too many wrong codes; ask for a new one later."


def _now() -> datetime:
    return datetime.now(UTC)


def code_locked(ctx: AppContext) -> RateLimited:
    """A code tried too many times: 429 like any other limit, until a new one is asked for."""
    return RateLimited(ctx.settings.otp_resend_interval_seconds, LOCKED_CODE_MESSAGE)


def counted(refusal: InvalidCode | RateLimited) -> InvalidCode | RateLimited:
    """A refusal whose wrong-attempt count must commit with it (see db.transactions)."""
    refusal.keep_transaction = True
    return refusal


async def send_or_503(ctx: AppContext, message: EmailMessage) -> None:
    """Send before the transaction commits: if it cannot be sent, the request fails and
    nothing is kept, so a 202 always means the email is on its way."""
    try:
        await ctx.mailer.send(message)
    except MailDeliveryError as exc:
        raise EmailUnavailable(
            "We could not send the verification email; try again shortly."
        ) from exc


async def register(db: Db, ctx: AppContext, request: RegisterRequest, password_hash: str) -> None:
    """Store (or replace) the pending registration and email its code.

    An address that already has an account gets the same answer, after the same work (a
    password hash, one email): its owner is told someone tried to sign up with it.
    """
    email = request.email.lower()
    existing = await repository.user_by_email(db, email)
    if existing is not None:
        first_name = await repository.first_name(db, existing) or request.first_name
        await send_or_503(
            ctx,
            signup_attempt_email(app_name=ctx.settings.app_name, to=email, first_name=first_name),
        )
        return
    now = _now()
    code = otp.generate_code()
    fields = {
        "password_hash": password_hash,
        "first_name": request.first_name,
        "last_name": request.last_name,
        "role": request.role,
        "otp_hash": otp.hash_code(ctx.tokens.secret, email, code),
        "otp_expires_at": now + timedelta(seconds=ctx.settings.otp_ttl_seconds),
        # A new code gets a fresh count; the tries per address and per email (auth.limits) are
        # what bound guessing, and asking for a new code does not reset those.
        "failed_attempts": 0,
        "last_sent_at": now,
    }
    pending = await repository.lock_pending(db, email)
    if pending is None:
        inserted = await db.scalar(
            upsert(repository.PENDING)
            .values(email=email, send_window_started_at=now, sends_in_window=1, **fields)
            .on_conflict_do_nothing(index_elements=[text("lower(email)")])
            .returning(repository.PENDING.c.id)
        )
        if inserted is None:  # a concurrent registration for the same email won the insert
            raise RateLimited(ctx.settings.otp_resend_interval_seconds)
    else:
        await db.execute(
            update(repository.PENDING)
            .where(repository.PENDING.c.id == pending.id)
            .values(sends_in_window=repository.PENDING.c.sends_in_window + 1, **fields)
        )

    await send_or_503(
        ctx,
        otp_email(
            app_name=ctx.settings.app_name,
            to=email,
            first_name=request.first_name,
            code=code,
            minutes=ctx.settings.otp_ttl_seconds // 60,
        ),
    )


async def verify_otp(db: Db, ctx: AppContext, email: str, code: str) -> User:
    """Check a code and create the account. Every refusal keeps its transaction (InvalidCode
    400, or 429 once the code is dead): the edge counted the try in it, and a wrong code is
    counted on the pending sign-up too."""
    email = email.lower()
    pending = await repository.lock_pending(db, email)
    if pending is None:
        raise counted(InvalidCode())
    if pending.otp_hash is None or pending.failed_attempts >= ctx.settings.otp_max_attempts:
        raise counted(code_locked(ctx))
    if pending.otp_expires_at <= _now():
        raise counted(InvalidCode())
    if not otp.code_matches(ctx.tokens.secret, email, code, pending.otp_hash):
        failed = pending.failed_attempts + 1
        dead = failed >= ctx.settings.otp_max_attempts  # even the right code no longer works
        values = {"failed_attempts": failed} | ({"otp_hash": None} if dead else {})
        await db.execute(
            update(repository.PENDING).where(repository.PENDING.c.id == pending.id).values(values)
        )
        raise counted(InvalidCode())

    await repository.delete_pending(db, pending.id)  # single use
    if await repository.user_by_email(db, email) is not None:
        # The address got an account meanwhile (e.g. by Google sign-in): the code is spent.
        raise counted(InvalidCode())
    return await create_user(
        db,
        ctx,
        email=email,
        password_hash=pending.password_hash,
        role=pending.role,
        first_name=pending.first_name,
        last_name=pending.last_name,
    )


async def create_user(
    db: Db,
    ctx: AppContext,
    *,
    email: str,
    password_hash: str | None,
    role: str,
    first_name: str,
    last_name: str,
    is_admin: bool = False,
    google_sub: str | None = None,
) -> User:
    """A verified user with their role's profile; a new student gets the welcome bonus."""
    row = (
        await db.execute(
            insert(USERS)
            .values(
                email=email.lower(),
                password_hash=password_hash,
                google_sub=google_sub,
                role=role,
                is_admin=is_admin,
                email_verified_at=_now(),
            )
            .returning(*USER_COLUMNS)
        )
    ).one()
    user = User.of(row)
    profiles = repository.STUDENTS if role == "student" else repository.INSTRUCTORS
    await db.execute(
        insert(profiles).values(user_id=user.id, first_name=first_name, last_name=last_name)
    )
    bonus = ctx.settings.welcome_bonus_credits
    if role == "student" and bonus > 0:
        await ledger.credit(
            db,
            student_id=user.id,
            amount=bonus,
            source_type=SourceType.WELCOME_BONUS,
            description="Welcome bonus",
            idempotency_key=f"welcome:{user.id}",
            expires_at=welcome_bonus_expiry(ctx.settings.welcome_bonus_expires_days),
        )
    return user


def welcome_bonus_expiry(days: int) -> datetime | None:
    """When a welcome bonus given now expires (WELCOME_BONUS_EXPIRES_DAYS; 0: never)."""
    return datetime.now(UTC) + timedelta(days=days) if days > 0 else None


async def find_login(db: Db, email: str) -> tuple[User, str] | None:
    """The account and its password hash for a sign-in; None when there is none (or it is a
    Google-only account, which no password signs in)."""
    found = await repository.password_hash_by_email(db, email)
    if found is None or found[1] is None:
        return None
    return found[0], found[1]


def check_password(found: tuple[User, str] | None, password: str, settings: Settings) -> User:
    """The user, or InvalidCredentials after the same work whether the account exists or not.
    Needs no database: the edge runs it with no connection held."""
    if found is None:
        burn_verification_time(password, settings)
        raise InvalidCredentials()
    user, password_hash = found
    if not verify_password(password, password_hash, settings):
        raise InvalidCredentials()
    return user


async def create_admin(
    db: Db,
    ctx: AppContext,
    *,
    email: str,
    password: str,
    first_name: str = "Admin",
    last_name: str = "User",
) -> User:
    """An administrator (an instructor account with isAdmin); promotes an existing user."""
    password_hash = hash_password(password, ctx.settings)
    existing = await repository.user_by_email(db, email)
    if existing is not None:
        await db.execute(
            update(USERS)
            .where(USERS.c.id == existing.id)
            .values(is_admin=True, password_hash=password_hash)
        )
        return await _reread(db, existing.id)
    return await create_user(
        db,
        ctx,
        email=email,
        password_hash=password_hash,
        role="instructor",
        first_name=first_name,
        last_name=last_name,
        is_admin=True,
    )


async def _reread(db: Db, user_id: uuid.UUID) -> User:
    return User.of((await db.execute(select(*USER_COLUMNS).where(USERS.c.id == user_id))).one())
