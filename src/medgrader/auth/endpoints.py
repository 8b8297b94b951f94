"""HTTP: /api/auth/* and /api/me."""

from __future__ import annotations

from email.message import EmailMessage

import structlog
from fastapi import APIRouter, BackgroundTasks, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from medgrader.auth import password_reset, repository, revocation, service
from medgrader.auth.deps import CurrentUser, TokenClaims, live_user_id
from medgrader.auth.google_signin import sign_in_with_id_token
from medgrader.auth.schemas import (
    GoogleSignInRequest,
    LoginRequest,
    MessageResponse,
    PasswordResetConfirm,
    PasswordResetRequest,
    RegisterRequest,
    RegisterResponse,
    TokenResponse,
    UserOut,
    VerifyOtpRequest,
)
from medgrader.auth.service import (
    INVALID_CODE_MESSAGE,
    LOCKED_CODE_MESSAGE,
    OtpOutcome,
)
from medgrader.auth.tokens import issue_access_token
from medgrader.core.context import AppContext
from medgrader.core.deps import Ctx, DbSession
from medgrader.core.errors import error_response
from medgrader.core.openapi import errors
from medgrader.models.users import User
from medgrader.notifications.mailer import MailDeliveryError, Mailer
from medgrader.security.client import ClientAddress

log = structlog.get_logger(__name__)

router = APIRouter(tags=["auth"])


async def user_out(session: AsyncSession, user: User) -> UserOut:
    out = UserOut.model_validate(user)
    if user.role == "student":
        student = await repository.student_profile(session, user.id)
        if student is not None:
            out.first_name, out.last_name = student.first_name, student.last_name
            out.credit_balance = student.credit_balance
    else:
        instructor = await repository.instructor_profile(session, user.id)
        if instructor is not None:
            out.first_name, out.last_name = instructor.first_name, instructor.last_name
    return out


async def token_response(session: AsyncSession, ctx: AppContext, user: User) -> TokenResponse:
    return TokenResponse(
        access_token=issue_access_token(ctx.tokens, user.id, user.token_version),
        expires_in=ctx.tokens.ttl_seconds,
        user=await user_out(session, user),
    )


@router.post(
    "/api/auth/register",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RegisterResponse,
    responses=errors(503, s503="email_unavailable: the code could not be sent"),
)
async def register(
    body: RegisterRequest, ctx: Ctx, session: DbSession, address: ClientAddress
) -> RegisterResponse:
    """202 whether or not the address already has an account (its owner is emailed instead)."""
    await service.register(session, ctx, body, address)
    return RegisterResponse(
        message="We emailed you a 6-digit code.", expires_in=ctx.settings.otp_ttl_seconds
    )


@router.post(
    "/api/auth/verify-otp",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenResponse,
    responses={400: {"description": "Wrong, expired or used code, or no such sign-up"}},
)
async def verify_otp(
    body: VerifyOtpRequest, ctx: Ctx, session: DbSession, address: ClientAddress
) -> TokenResponse | JSONResponse:
    result = await service.verify_otp(session, ctx, body.email, body.otp, address)
    if result.outcome is not OtpOutcome.OK or result.user is None:
        # Returned, not raised: the wrong-attempt count must commit with this answer.
        return code_refused(ctx, result.outcome)
    return await token_response(session, ctx, result.user)


def code_refused(ctx: AppContext, outcome: OtpOutcome) -> JSONResponse:
    """The answer to a refused one-time code; a locked one is 429 like any other limit."""
    if outcome is OtpOutcome.LOCKED:
        retry = str(ctx.settings.otp_resend_interval_seconds)
        return error_response(429, LOCKED_CODE_MESSAGE, "rate_limited", {"Retry-After": retry})
    return error_response(400, INVALID_CODE_MESSAGE, OtpOutcome.INVALID.value)


@router.post(
    "/api/auth/login",
    response_model=TokenResponse,
    responses=errors(401, s401="invalid_credentials"),
)
async def login(
    body: LoginRequest, ctx: Ctx, session: DbSession, address: ClientAddress
) -> TokenResponse:
    user = await service.login(session, ctx, body.email, body.password, address)
    return await token_response(session, ctx, user)


@router.post("/api/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(claims: TokenClaims, session: DbSession) -> Response:
    """Revoke the access token this request carries (401 if it is already dead)."""
    await live_user_id(session, claims)
    await revocation.revoke(session, claims)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _send_quietly(mailer: Mailer, message: EmailMessage) -> None:
    try:
        await mailer.send(message)
    except MailDeliveryError:
        log.warning("password reset email not sent", exc_info=True)


@router.post(
    "/api/auth/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RegisterResponse,
)
async def request_password_reset(
    body: PasswordResetRequest,
    ctx: Ctx,
    session: DbSession,
    address: ClientAddress,
    background: BackgroundTasks,
) -> RegisterResponse:
    """202 whether or not the address has an account; if it has, a code is emailed."""
    message = await password_reset.request_reset(session, ctx, body.email, address)
    if message is not None:
        # After the answer (and the commit): the response takes as long either way.
        background.add_task(_send_quietly, ctx.mailer, message)
    return RegisterResponse(
        message="If an account uses this email, we emailed it a 6-digit code.",
        expires_in=ctx.settings.otp_ttl_seconds,
    )


@router.post(
    "/api/auth/password-reset/confirm",
    response_model=MessageResponse,
    responses={400: {"description": "Wrong, expired or used code"}},
)
async def confirm_password_reset(
    body: PasswordResetConfirm, ctx: Ctx, session: DbSession, address: ClientAddress
) -> MessageResponse | JSONResponse:
    outcome = await password_reset.confirm_reset(
        session, ctx, body.email, body.otp, body.new_password, address
    )
    if outcome is not OtpOutcome.OK:
        return code_refused(ctx, outcome)  # returned: the wrong try commits
    return MessageResponse(message="Your password was changed; sign in again everywhere.")


@router.post(
    "/api/auth/google",
    response_model=TokenResponse,
    responses={
        201: {"model": TokenResponse, "description": "A new user was created"},
        **errors(
            401,
            404,
            409,
            503,
            s401="invalid_google_token",
            s404="google_sign_in_disabled",
            s409="google_account_conflict",
            s503="google_unavailable: Google's certificates could not be fetched",
        ),
    },
)
async def google_sign_in(
    body: GoogleSignInRequest, ctx: Ctx, session: DbSession, response: Response
) -> TokenResponse:
    """Sign in with a Google ID token: 200 for an existing user, 201 for a new one."""
    result = await sign_in_with_id_token(session, ctx, body.id_token, body.role)
    if result.created:
        response.status_code = status.HTTP_201_CREATED
    return await token_response(session, ctx, result.user)


@router.get("/api/me", response_model=UserOut)
async def me(user: CurrentUser, session: DbSession) -> UserOut:
    return await user_out(session, user)
