"""HTTP: /api/auth/* and /api/me."""

from __future__ import annotations

from email.message import EmailMessage

import structlog
from fastapi import APIRouter, BackgroundTasks, Response, status

from medgrader.auth import flows, repository, revocation
from medgrader.auth.deps import CurrentUser, TokenClaims, user_for_claims
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
from medgrader.auth.users import User
from medgrader.core.adapters.mailer import MailDeliveryError, Mailer
from medgrader.core.context import AppContext
from medgrader.core.deps import Ctx, RequestDb
from medgrader.core.openapi import errors
from medgrader.core.tokens import issue_access_token
from medgrader.db.session import Db
from medgrader.security.client import ClientAddress

log = structlog.get_logger(__name__)

router = APIRouter(tags=["auth"])


async def user_out(db: Db, user: User) -> UserOut:
    out = UserOut.model_validate(user)
    if user.is_student:
        student = await repository.student_profile(db, user.id)
        if student is not None:
            out.first_name, out.last_name = student.first_name, student.last_name
            out.credit_balance = student.credit_balance
    else:
        instructor = await repository.instructor_profile(db, user.id)
        if instructor is not None:
            out.first_name, out.last_name = instructor.first_name, instructor.last_name
    return out


async def token_response(db: Db, ctx: AppContext, user: User) -> TokenResponse:
    return TokenResponse(
        access_token=issue_access_token(ctx.tokens, user.id, user.token_version),
        expires_in=ctx.tokens.ttl_seconds,
        user=await user_out(db, user),
    )


@router.post(
    "/api/auth/register",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RegisterResponse,
    responses=errors(503, s503="email_unavailable: the code could not be sent"),
)
async def register(
    body: RegisterRequest, ctx: Ctx, db: RequestDb, address: ClientAddress
) -> RegisterResponse:
    """202 whether or not the address already has an account (its owner is emailed instead)."""
    await flows.register(db, ctx, body, address)
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
    body: VerifyOtpRequest, ctx: Ctx, db: RequestDb, address: ClientAddress
) -> TokenResponse:
    user = await flows.verify_otp(db, ctx, body.email, body.otp, address)
    return await token_response(db, ctx, user)


@router.post(
    "/api/auth/login",
    response_model=TokenResponse,
    responses=errors(401, s401="invalid_credentials"),
)
async def login(
    body: LoginRequest, ctx: Ctx, db: RequestDb, address: ClientAddress
) -> TokenResponse:
    user = await flows.login(db, ctx, body.email, body.password, address)
    return await token_response(db, ctx, user)


@router.post("/api/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(claims: TokenClaims, db: RequestDb) -> Response:
    """Revoke the access token this request carries (401 if it is already dead)."""
    await user_for_claims(db, claims)
    await revocation.revoke(db, claims)
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
    db: RequestDb,
    address: ClientAddress,
    background: BackgroundTasks,
) -> RegisterResponse:
    """202 whether or not the address has an account; if it has, a code is emailed."""
    message = await flows.request_reset(db, ctx, body.email, address)
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
    body: PasswordResetConfirm, ctx: Ctx, db: RequestDb, address: ClientAddress
) -> MessageResponse:
    await flows.confirm_reset(db, ctx, body.email, body.otp, body.new_password, address)
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
    body: GoogleSignInRequest, ctx: Ctx, db: RequestDb, response: Response
) -> TokenResponse:
    """Sign in with a Google ID token: 200 for an existing user, 201 for a new one."""
    result = await sign_in_with_id_token(db, ctx, body.id_token, body.role)
    if result.created:
        response.status_code = status.HTTP_201_CREATED
    return await token_response(db, ctx, result.user)


@router.get("/api/me", response_model=UserOut)
async def me(user: CurrentUser, db: RequestDb) -> UserOut:
    return await user_out(db, user)
