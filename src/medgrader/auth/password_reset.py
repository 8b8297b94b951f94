"""Password reset with an emailed one-time code (single use, OTP_TTL_SECONDS, same limits as
the sign-up code). The request answers the same whether or not the address has an account; a
successful reset ends every access token the user had."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from medgrader.auth import otp, repository, revocation
from medgrader.auth.passwords import hash_password
from medgrader.auth.service import OtpOutcome
from medgrader.core.context import AppContext
from medgrader.models.security import PasswordResetCode
from medgrader.notifications.emails import password_reset_email
from medgrader.security import limits, rules

PURPOSE = "reset"


def _subject(email: str) -> str:
    # Bound to its purpose: a sign-up code's hash is never a reset code's.
    return f"{PURPOSE}:{email}"


async def request_reset(
    session: AsyncSession, ctx: AppContext, email: str, address: str
) -> EmailMessage | None:
    """Store a new reset code for the account and return its email (sent by the caller after
    the commit, so the answer takes as long whether the account exists or not); None when the
    address has no account."""
    email = email.lower()
    s = ctx.settings
    await limits.hit(ctx, *rules.code_sent(s, PURPOSE, email, address))
    code = otp.generate_code()
    code_hash = otp.hash_code(ctx.tokens.secret, _subject(email), code)
    user = await repository.user_by_email(session, email)
    if user is None:
        return None
    values = {
        "code_hash": code_hash,
        "expires_at": datetime.now(UTC) + timedelta(seconds=s.otp_ttl_seconds),
        "failed_attempts": 0,
    }
    await session.execute(
        insert(PasswordResetCode)
        .values(user_id=user.id, **values)
        .on_conflict_do_update(index_elements=[PasswordResetCode.user_id], set_=values)
    )
    return password_reset_email(
        app_name=s.app_name, to=email, code=code, minutes=s.otp_ttl_seconds // 60
    )


async def confirm_reset(
    session: AsyncSession, ctx: AppContext, email: str, code: str, new_password: str, address: str
) -> OtpOutcome:
    """Set the new password if the code is right. Wrong tries are counted in this transaction:
    the caller commits whatever the outcome."""
    email = email.lower()
    s = ctx.settings
    await limits.hit(ctx, *rules.code_tried(s, PURPOSE, email, address))
    user = await repository.user_by_email(session, email)
    row = (
        await session.scalar(
            select(PasswordResetCode).where(PasswordResetCode.user_id == user.id).with_for_update()
        )
        if user is not None
        else None
    )
    if user is None or row is None or row.expires_at <= datetime.now(UTC):
        return OtpOutcome.INVALID
    if row.code_hash is None or row.failed_attempts >= s.otp_max_attempts:
        return OtpOutcome.LOCKED
    if not otp.code_matches(ctx.tokens.secret, _subject(email), code, row.code_hash):
        row.failed_attempts += 1
        if row.failed_attempts >= s.otp_max_attempts:
            row.code_hash = None
        await session.flush()
        return OtpOutcome.INVALID
    user.password_hash = hash_password(new_password, s)
    await session.execute(delete(PasswordResetCode).where(PasswordResetCode.user_id == user.id))
    await session.flush()
    await revocation.end_all_tokens(session, user.id)  # signed out everywhere
    return OtpOutcome.OK
