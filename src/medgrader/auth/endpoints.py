"""HTTP: /api/auth/* and /api/me."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from medgrader.auth import repository, service
from medgrader.auth.deps import CurrentUser
from medgrader.auth.google import GoogleConfig, verify_id_token
from medgrader.auth.google_signin import sign_in_with_google
from medgrader.auth.schemas import (
    GoogleSignInRequest,
    LoginRequest,
    RegisterRequest,
    RegisterResponse,
    TokenResponse,
    UserOut,
    VerifyOtpRequest,
)
from medgrader.auth.service import OTP_MESSAGES, OtpOutcome
from medgrader.auth.tokens import issue_access_token
from medgrader.core.context import AppContext
from medgrader.core.deps import Ctx, DbSession
from medgrader.core.errors import error_response
from medgrader.models.users import User

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
        access_token=issue_access_token(ctx.tokens, user.id),
        expires_in=ctx.tokens.ttl_seconds,
        user=await user_out(session, user),
    )


@router.post(
    "/api/auth/register", status_code=status.HTTP_202_ACCEPTED, response_model=RegisterResponse
)
async def register(body: RegisterRequest, ctx: Ctx, session: DbSession) -> RegisterResponse:
    await service.register(session, ctx, body)
    return RegisterResponse(
        message="We emailed you a 6-digit code.", expires_in=ctx.settings.otp_ttl_seconds
    )


@router.post(
    "/api/auth/verify-otp",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenResponse,
    responses={400: {"description": "Wrong, expired, used or locked code"}},
)
async def verify_otp(
    body: VerifyOtpRequest, ctx: Ctx, session: DbSession
) -> TokenResponse | JSONResponse:
    result = await service.verify_otp(session, ctx, body.email, body.otp)
    if result.outcome is not OtpOutcome.OK or result.user is None:
        # Returned, not raised: the wrong-attempt count must commit with this answer.
        return error_response(400, OTP_MESSAGES[result.outcome], result.outcome.value)
    return await token_response(session, ctx, result.user)


@router.post("/api/auth/login", response_model=TokenResponse)
async def login(body: LoginRequest, ctx: Ctx, session: DbSession) -> TokenResponse:
    user = await service.login(session, body.email, body.password)
    return await token_response(session, ctx, user)


@router.post(
    "/api/auth/google",
    response_model=TokenResponse,
    responses={201: {"model": TokenResponse, "description": "A new user was created"}},
)
async def google_sign_in(
    body: GoogleSignInRequest, ctx: Ctx, session: DbSession, response: Response
) -> TokenResponse:
    """Sign in with a Google ID token: 200 for an existing user, 201 for a new one."""
    identity = await verify_id_token(
        body.id_token, ctx.google_certs, GoogleConfig.from_settings(ctx.settings)
    )
    result = await sign_in_with_google(session, ctx, identity, body.role)
    if result.created:
        response.status_code = status.HTTP_201_CREATED
    return await token_response(session, ctx, result.user)


@router.get("/api/me", response_model=UserOut)
async def me(user: CurrentUser, session: DbSession) -> UserOut:
    return await user_out(session, user)
