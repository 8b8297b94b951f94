"""Sign-up with an emailed one-time code, sign-in, and admin creation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from medgrader.auth import otp, repository
from medgrader.auth.passwords import burn_verification_time, hash_password, verify_password
from medgrader.auth.schemas import RegisterRequest
from medgrader.core.context import AppContext
from medgrader.core.errors import Conflict, ServiceUnavailable, TooManyRequests, Unauthorized
from medgrader.ledger import service as ledger
from medgrader.models.ledger import SourceType
from medgrader.models.users import InstructorProfile, PendingRegistration, StudentProfile, User
from medgrader.notifications.emails import otp_email
from medgrader.notifications.mailer import MailDeliveryError

SEND_WINDOW = timedelta(hours=1)


class EmailTaken(Conflict):
    code, message = "email_taken", "An account with this email already exists."


class InvalidCredentials(Unauthorized):
    # The same words whether the email exists or not.
    code, message = "invalid_credentials", "Incorrect email or password."


class OtpOutcome(StrEnum):
    OK = "ok"
    UNKNOWN = "invalid_otp"
    WRONG = "wrong_otp"
    EXPIRED = "otp_expired"
    LOCKED = "otp_attempts_exceeded"


OTP_MESSAGES = {
    OtpOutcome.UNKNOWN: "Invalid or expired code.",
    OtpOutcome.WRONG: "Invalid or expired code.",
    OtpOutcome.EXPIRED: "This code has expired; register again to get a new one.",
    OtpOutcome.LOCKED: "Too many wrong codes; register again to get a new one.",
}


@dataclass(frozen=True)
class OtpResult:
    outcome: OtpOutcome
    user: User | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def _rate_limit(pending: PendingRegistration, ctx: AppContext, now: datetime) -> None:
    s = ctx.settings
    wait = (
        pending.last_sent_at + timedelta(seconds=s.otp_resend_interval_seconds) - now
    ).total_seconds()
    if wait > 0:
        raise TooManyRequests(
            "A code was sent moments ago; wait before asking for another.",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    window_open = now - pending.send_window_started_at < SEND_WINDOW
    if window_open and pending.sends_in_window >= s.otp_max_sends_per_hour:
        retry = pending.send_window_started_at + SEND_WINDOW - now
        raise TooManyRequests(
            "Too many codes requested for this email; try again later.",
            headers={"Retry-After": str(int(retry.total_seconds()) + 1)},
        )


async def register(session: AsyncSession, ctx: AppContext, request: RegisterRequest) -> None:
    """Store (or replace) the pending registration and email its code.

    The email goes out before the transaction commits: if it cannot be sent the request fails
    and nothing is kept, so a 202 always means a code is on its way.
    """
    email = request.email.lower()
    if await repository.user_by_email(session, email) is not None:
        raise EmailTaken()
    now = _now()
    code = otp.generate_code()
    secret = ctx.tokens.secret
    fields = {
        "password_hash": hash_password(request.password),
        "first_name": request.first_name,
        "last_name": request.last_name,
        "role": request.role,
        "otp_hash": otp.hash_code(secret, email, code),
        "otp_expires_at": now + timedelta(seconds=ctx.settings.otp_ttl_seconds),
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
            raise TooManyRequests("A code was sent moments ago; wait before asking for another.")
    else:
        _rate_limit(pending, ctx, now)
        if now - pending.send_window_started_at >= SEND_WINDOW:
            pending.send_window_started_at, pending.sends_in_window = now, 1
        else:
            pending.sends_in_window += 1
        for name, value in fields.items():
            setattr(pending, name, value)
        await session.flush()

    message = otp_email(
        app_name=ctx.settings.app_name,
        to=email,
        first_name=request.first_name,
        code=code,
        minutes=ctx.settings.otp_ttl_seconds // 60,
    )
    try:
        await ctx.mailer.send(message)
    except MailDeliveryError as exc:
        raise ServiceUnavailable(
            "We could not send the verification email; try again shortly.",
            code="email_unavailable",
        ) from exc


async def verify_otp(session: AsyncSession, ctx: AppContext, email: str, code: str) -> OtpResult:
    """Check a code. Wrong tries are counted in this transaction, so the caller must commit
    whatever the outcome (the endpoint answers an error without raising)."""
    email = email.lower()
    pending = await repository.lock_pending(session, email)
    if pending is None:
        return OtpResult(OtpOutcome.UNKNOWN)
    if pending.otp_hash is None or pending.failed_attempts >= ctx.settings.otp_max_attempts:
        return OtpResult(OtpOutcome.LOCKED)
    if pending.otp_expires_at <= _now():
        return OtpResult(OtpOutcome.EXPIRED)
    if not otp.code_matches(ctx.tokens.secret, email, code, pending.otp_hash):
        pending.failed_attempts += 1
        if pending.failed_attempts >= ctx.settings.otp_max_attempts:
            pending.otp_hash = None  # dead: even the right code no longer works
        await session.flush()
        return OtpResult(OtpOutcome.WRONG)

    if await repository.user_by_email(session, email) is not None:
        await repository.delete_pending(session, pending.id)
        raise EmailTaken()
    user = await create_user(
        session,
        ctx,
        email=email,
        password_hash=pending.password_hash,
        role=pending.role,
        first_name=pending.first_name,
        last_name=pending.last_name,
    )
    await repository.delete_pending(session, pending.id)  # single use
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


async def login(session: AsyncSession, email: str, password: str) -> User:
    user = await repository.user_by_email(session, email)
    if user is None or user.password_hash is None:  # no such user, or a Google-only account
        burn_verification_time(password)
        raise InvalidCredentials()
    if not verify_password(password, user.password_hash):
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
        existing.password_hash = hash_password(password)
        await session.flush()
        return existing
    return await create_user(
        session,
        ctx,
        email=email,
        password_hash=hash_password(password),
        role="instructor",
        first_name=first_name,
        last_name=last_name,
        is_admin=True,
    )
