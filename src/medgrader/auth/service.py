"""Sign-up with an emailed one-time code, sign-in, and admin creation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from enum import StrEnum

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from medgrader.auth import otp, repository
from medgrader.auth.passwords import burn_verification_time, hash_password, verify_password
from medgrader.auth.schemas import RegisterRequest
from medgrader.core.context import AppContext
from medgrader.core.errors import ServiceUnavailable, Unauthorized
from medgrader.ledger import service as ledger
from medgrader.models.ledger import SourceType
from medgrader.models.users import InstructorProfile, PendingRegistration, StudentProfile, User
from medgrader.notifications.emails import otp_email, signup_attempt_email
from medgrader.notifications.mailer import MailDeliveryError
from medgrader.security import limits, rules
from medgrader.security.limits import RateLimited


class InvalidCredentials(Unauthorized):
    # The same words whether the email exists or not.
    code, message = "invalid_credentials", "Incorrect email or password."


class OtpOutcome(StrEnum):
    OK = "ok"
    # Unknown address, no pending sign-up, wrong or expired code: one answer for all, so that
    # it reveals nothing about which addresses exist.
    INVALID = "invalid_otp"
    LOCKED = "otp_attempts_exceeded"


INVALID_CODE_MESSAGE = "Invalid or expired code."
LOCKED_CODE_MESSAGE = "Too many wrong codes; ask for a new one later."


@dataclass(frozen=True)
class OtpResult:
    outcome: OtpOutcome
    user: User | None = None


def _now() -> datetime:
    return datetime.now(UTC)


async def send_or_503(ctx: AppContext, message: EmailMessage) -> None:
    """Send before the transaction commits: if it cannot be sent, the request fails and
    nothing is kept, so a 202 always means the email is on its way."""
    try:
        await ctx.mailer.send(message)
    except MailDeliveryError as exc:
        raise ServiceUnavailable(
            "We could not send the verification email; try again shortly.",
            code="email_unavailable",
        ) from exc


async def register(
    session: AsyncSession, ctx: AppContext, request: RegisterRequest, address: str
) -> None:
    """Store (or replace) the pending registration and email its code.

    An address that already has an account gets the same answer, after the same work (a
    password hash, one email): its owner is told someone tried to sign up with it.
    """
    email = request.email.lower()
    await limits.hit(ctx, *rules.code_sent(ctx.settings, "signup", email, address))
    password_hash = hash_password(request.password, ctx.settings)
    existing = await repository.user_by_email(session, email)
    if existing is not None:
        first_name = await repository.first_name(session, existing) or request.first_name
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
    pending = await repository.lock_pending(session, email)
    if pending is None:
        inserted = await session.scalar(
            insert(PendingRegistration)
            .values(email=email, send_window_started_at=now, sends_in_window=1, **fields)
            .on_conflict_do_nothing(index_elements=[text("lower(email)")])
            .returning(PendingRegistration.id)
        )
        if inserted is None:  # a concurrent registration for the same email won the insert
            raise RateLimited(ctx.settings.otp_resend_interval_seconds)
    else:
        pending.sends_in_window += 1
        for name, value in fields.items():
            setattr(pending, name, value)
        await session.flush()

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


async def verify_otp(
    session: AsyncSession, ctx: AppContext, email: str, code: str, address: str
) -> OtpResult:
    """Check a code. Wrong tries are counted in this transaction, so the caller must commit
    whatever the outcome (the endpoint answers an error without raising)."""
    email = email.lower()
    await limits.hit(ctx, *rules.code_tried(ctx.settings, "signup", email, address))
    pending = await repository.lock_pending(session, email)
    if pending is None:
        return OtpResult(OtpOutcome.INVALID)
    if pending.otp_hash is None or pending.failed_attempts >= ctx.settings.otp_max_attempts:
        return OtpResult(OtpOutcome.LOCKED)
    if pending.otp_expires_at <= _now():
        return OtpResult(OtpOutcome.INVALID)
    if not otp.code_matches(ctx.tokens.secret, email, code, pending.otp_hash):
        pending.failed_attempts += 1
        if pending.failed_attempts >= ctx.settings.otp_max_attempts:
            pending.otp_hash = None  # dead: even the right code no longer works
        await session.flush()
        return OtpResult(OtpOutcome.INVALID)

    await repository.delete_pending(session, pending.id)  # single use
    if await repository.user_by_email(session, email) is not None:
        # The address got an account meanwhile (e.g. by Google sign-in): the code is spent.
        return OtpResult(OtpOutcome.INVALID)
    user = await create_user(
        session,
        ctx,
        email=email,
        password_hash=pending.password_hash,
        role=pending.role,
        first_name=pending.first_name,
        last_name=pending.last_name,
    )
    return OtpResult(OtpOutcome.OK, user)


async def create_user(
    session: AsyncSession,
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
    user = User(
        email=email.lower(),
        password_hash=password_hash,
        google_sub=google_sub,
        role=role,
        is_admin=is_admin,
        email_verified_at=_now(),
    )
    session.add(user)
    await session.flush()
    if role == "student":
        session.add(StudentProfile(user_id=user.id, first_name=first_name, last_name=last_name))
        await session.flush()
        bonus = ctx.settings.welcome_bonus_credits
        if bonus > 0:
            await ledger.credit(
                session,
                student_id=user.id,
                amount=bonus,
                source_type=SourceType.WELCOME_BONUS,
                description="Welcome bonus",
                idempotency_key=f"welcome:{user.id}",
            )
    else:
        session.add(InstructorProfile(user_id=user.id, first_name=first_name, last_name=last_name))
        await session.flush()
    return user


async def login(
    session: AsyncSession, ctx: AppContext, email: str, password: str, address: str
) -> User:
    await limits.hit(ctx, *rules.login(ctx.settings, email.lower(), address))
    user = await repository.user_by_email(session, email)
    if user is None or user.password_hash is None:  # no such user, or a Google-only account
        burn_verification_time(password, ctx.settings)
        raise InvalidCredentials()
    if not verify_password(password, user.password_hash, ctx.settings):
        raise InvalidCredentials()
    return user


async def create_admin(
    session: AsyncSession,
    ctx: AppContext,
    *,
    email: str,
    password: str,
    first_name: str = "Admin",
    last_name: str = "User",
) -> User:
    """An administrator (an instructor account with isAdmin); promotes an existing user."""
    existing = await repository.user_by_email(session, email)
    if existing is not None:
        existing.is_admin = True
        existing.password_hash = hash_password(password, ctx.settings)
        await session.flush()
        return existing
    return await create_user(
        session,
        ctx,
        email=email,
        password_hash=hash_password(password, ctx.settings),
        role="instructor",
        first_name=first_name,
        last_name=last_name,
        is_admin=True,
    )
