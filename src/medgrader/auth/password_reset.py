"""Password reset with an emailed one-time code (single use, OTP_TTL_SECONDS, same limits as
the sign-up code). The request answers the same whether or not the address has an account; a
successful reset ends every access token the user had. The limits are counted by the edge, in
the same transaction (auth.flows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as upsert

from medgrader.auth import otp, repository, revocation
from medgrader.auth.errors import InvalidCode
from medgrader.auth.passwords import hash_password
from medgrader.auth.service import code_locked, counted
from medgrader.auth.users import USERS
from medgrader.core.context import AppContext
from medgrader.db.session import Db
from medgrader.models.security import PasswordResetCode
from medgrader.notifications.emails import password_reset_email

PURPOSE = "reset"
CODES = PasswordResetCode.__table__


def _subject(email: str) -> str:
    # Bound to its purpose: a sign-up code's hash is never a reset code's.
    return f"{PURPOSE}:{email}"


async def request_reset(db: Db, ctx: AppContext, email: str) -> EmailMessage | None:
    """Store a new reset code for the account and return its email (sent by the caller after
    the commit, so the answer takes as long whether the account exists or not); None when the
    address has no account."""
    email = email.lower()
    s = ctx.settings
    code = otp.generate_code()
    code_hash = otp.hash_code(ctx.tokens.secret, _subject(email), code)
    user = await repository.user_by_email(db, email)
    if user is None:
        return None
    values = {
        "code_hash": code_hash,
        "expires_at": datetime.now(UTC) + timedelta(seconds=s.otp_ttl_seconds),
        "failed_attempts": 0,
    }
    await db.execute(
        upsert(CODES)
        .values(user_id=user.id, **values)
        .on_conflict_do_update(index_elements=[CODES.c.user_id], set_=values)
    )
    return password_reset_email(
        app_name=s.app_name, to=email, code=code, minutes=s.otp_ttl_seconds // 60
    )


async def confirm_reset(db: Db, ctx: AppContext, email: str, code: str, new_password: str) -> None:
    """Set the new password if the code is right. Every refusal keeps its transaction: the
    edge counted the try in it, and a wrong code is counted on the reset code too."""
    email = email.lower()
    s = ctx.settings
    user = await repository.user_by_email(db, email)
    row = (
        (
            await db.execute(select(CODES).where(CODES.c.user_id == user.id).with_for_update())
        ).one_or_none()
        if user is not None
        else None
    )
    if user is None or row is None or row.expires_at <= datetime.now(UTC):
        raise counted(InvalidCode())
    if row.code_hash is None or row.failed_attempts >= s.otp_max_attempts:
        raise counted(code_locked(ctx))
    if not otp.code_matches(ctx.tokens.secret, _subject(email), code, row.code_hash):
        failed = row.failed_attempts + 1
        values = {"failed_attempts": failed}
        if failed >= s.otp_max_attempts:
            values["code_hash"] = None  # type: ignore[assignment]
        await db.execute(update(CODES).where(CODES.c.user_id == user.id).values(values))
        raise counted(InvalidCode())
    await db.execute(
        update(USERS)
        .where(USERS.c.id == user.id)
        .values(password_hash=hash_password(new_password, s))
    )
    await db.execute(delete(CODES).where(CODES.c.user_id == user.id))
    await revocation.end_all_tokens(db, user.id)  # signed out everywhere
