"""/login, /signup (with the emailed code), Sign in with Google and /logout, on the auth
service."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from medgrader.auth import flows, revocation
from medgrader.auth.google_signin import sign_in_with_id_token
from medgrader.auth.schemas import (
    GoogleSignInRequest,
    LoginRequest,
    RegisterRequest,
    VerifyOtpRequest,
)
from medgrader.auth.users import User
from medgrader.core.deps import Ctx, RequestDb
from medgrader.core.errors import AppError
from medgrader.core.statuses import status_of
from medgrader.security.client import ClientAddress
from medgrader.web.deps import Csrf, Form, PageSession, Viewer
from medgrader.web.forms import FormInvalid, safe_next, validated
from medgrader.web.google_button import page_options
from medgrader.web.rendering import redirect, render
from medgrader.web.session import BrowserSession

router = APIRouter(include_in_schema=False)


def home_of(user: User) -> str:
    return "/admin" if user.is_admin else "/wallet"


def _sign_in(request: Request, user: User, target: str) -> Response:
    session = BrowserSession.signed_in(user.id, user.token_version)
    response = redirect(request, target)
    request.app.state.session_codec.store(response, session)
    return response


@router.get("/")
async def root(request: Request, viewer: Viewer) -> Response:
    return redirect(request, home_of(viewer) if viewer else "/login")


@router.get("/login")
async def login_page(request: Request, ctx: Ctx, _: PageSession, next: str = "") -> Response:
    return render(request, "login.html", next=safe_next(next, ""), **page_options(ctx.settings))


@router.post("/login", dependencies=[Csrf])
async def login(
    request: Request, ctx: Ctx, db: RequestDb, form: Form, address: ClientAddress
) -> Response:
    email, target = form.get("email", "").strip(), form.get("next", "")
    try:
        body = validated(LoginRequest, {"email": email, "password": form.get("password", "")})
        user = await flows.login(db, ctx, body.email, body.password, address)
    except (FormInvalid, AppError) as exc:
        status = status_of(exc) if isinstance(exc, AppError) else 422
        return render(request, "login.html", status, error=exc.message, email=email, next=target,
                      **page_options(ctx.settings))  # fmt: skip
    return _sign_in(request, user, safe_next(target, home_of(user)))


@router.post("/login/google", dependencies=[Csrf])
async def google_login(request: Request, ctx: Ctx, db: RequestDb, form: Form) -> Response:
    """The ID token the Google button returned, posted with the page's CSRF token: signed in
    by the service of POST /api/auth/google (a new account is a student's, with the welcome
    bonus once), then on to the wallet (or `next`)."""
    target = form.get("next", "")
    try:
        body = validated(GoogleSignInRequest, {"idToken": form.get("credential", "")})
        result = await sign_in_with_id_token(db, ctx, body.id_token, body.role)
    except (FormInvalid, AppError) as exc:
        if isinstance(exc, AppError) and status_of(exc) == 404:
            raise  # GOOGLE_CLIENT_IDS unset: there is no such sign-in
        status = status_of(exc) if isinstance(exc, AppError) else 422
        return render(request, "login.html", status, error=exc.message, next=target,
                      **page_options(ctx.settings))  # fmt: skip
    return _sign_in(request, result.user, safe_next(target, home_of(result.user)))


@router.get("/signup")
async def signup_page(request: Request, ctx: Ctx, _: PageSession) -> Response:
    return render(request, "signup.html", values={}, **page_options(ctx.settings))


@router.post("/signup", dependencies=[Csrf])
async def signup(
    request: Request, ctx: Ctx, db: RequestDb, form: Form, address: ClientAddress
) -> Response:
    values = {k: form.get(k, "").strip() for k in ("email", "firstName", "lastName")}
    try:
        body = validated(
            RegisterRequest, {**values, "password": form.get("password", ""), "role": "student"}
        )
        await flows.register(db, ctx, body, address)
    except (FormInvalid, AppError) as exc:
        status = status_of(exc) if isinstance(exc, AppError) else 422
        return render(request, "signup.html", status, error=exc.message, values=values,
                      **page_options(ctx.settings))  # fmt: skip
    minutes = ctx.settings.otp_ttl_seconds // 60
    return render(request, "verify.html", email=body.email, minutes=minutes)


@router.post("/signup/verify", dependencies=[Csrf])
async def verify(
    request: Request, ctx: Ctx, db: RequestDb, form: Form, address: ClientAddress
) -> Response:
    email = form.get("email", "").strip()
    try:
        body = validated(VerifyOtpRequest, {"email": email, "otp": form.get("code", "").strip()})
    except FormInvalid:
        return render(request, "verify.html", 422, email=email, error="Enter the 6-digit code.")
    try:
        user = await flows.verify_otp(db, ctx, body.email, body.otp, address)
    except AppError as exc:
        # Rendered, not raised: the wrong-attempt count commits with this answer.
        return render(request, "verify.html", status_of(exc), email=email, error=exc.message)
    return _sign_in(request, user, home_of(user))


@router.post("/logout", dependencies=[Csrf])
async def logout(request: Request, session: PageSession, db: RequestDb) -> Response:
    """Revoke this session on the server (a kept copy of the cookie is dead too), then replace
    the cookie with a fresh anonymous one."""
    claims = session.claims()
    if claims is not None:
        await revocation.revoke(db, claims)
    response = redirect(request, "/login")
    request.app.state.session_codec.store(response, BrowserSession.anonymous())
    return response
