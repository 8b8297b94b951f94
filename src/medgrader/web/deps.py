"""Who is looking at a page: the cookie session, the signed-in user, role gates and CSRF."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from medgrader.auth import revocation
from medgrader.auth.errors import AdminOnly, StudentOnly
from medgrader.auth.users import User
from medgrader.core.deps import RequestDb
from medgrader.core.errors import Forbidden
from medgrader.web.rendering import STATE_NEW_SESSION, STATE_SESSION
from medgrader.web.session import COOKIE_NAME, CSRF_FIELD, CSRF_HEADER, BrowserSession


class LoginRequired(Exception):
    """An anonymous visitor asked for a page that needs a sign-in: sent to /login."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRefused(Forbidden):
    code, message = (
        "csrf_failed",
        "This form has expired or did not come from this site. Reload the page and try again.",
    )


async def page_session(request: Request) -> BrowserSession:
    """The visitor's session from its cookie; a new anonymous one (stored on the response by
    `rendering.finish`) when there is none or it is invalid or expired."""
    found: BrowserSession | None = getattr(request.state, STATE_SESSION, None)
    if found is not None:
        return found
    found = request.app.state.session_codec.decode(request.cookies.get(COOKIE_NAME))
    if found is None:
        found = BrowserSession.anonymous()
        setattr(request.state, STATE_NEW_SESSION, True)
    setattr(request.state, STATE_SESSION, found)
    return found


PageSession = Annotated[BrowserSession, Depends(page_session)]


async def page_viewer(request: Request, db: RequestDb, session: PageSession) -> User | None:
    """The signed-in user, or None: the cookie session's claims checked by the one token
    statement (auth.revocation) on the request's unit of work, as for a bearer token. A page
    that calls Stripe wraps the call in `external_call`, like an endpoint."""
    if session.user_id is None:
        return None
    claims = session.claims()
    if claims is None:
        return None
    # None when signed out (this session revoked) or every session ended (a password reset).
    user = await revocation.live_user(db, claims)
    request.state.viewer = user
    return user


Viewer = Annotated[User | None, Depends(page_viewer)]


async def signed_in(request: Request, viewer: Viewer) -> User:
    if viewer is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return viewer


async def signed_in_student(user: Annotated[User, Depends(signed_in)]) -> User:
    if not user.is_student:
        raise StudentOnly("The wallet is for student accounts.")
    return user


async def signed_in_admin(user: Annotated[User, Depends(signed_in)]) -> User:
    if not user.is_admin:
        raise AdminOnly("This page is for administrators only.")
    return user


PageUser = Annotated[User, Depends(signed_in)]
PageStudent = Annotated[User, Depends(signed_in_student)]
PageAdmin = Annotated[User, Depends(signed_in_admin)]


async def csrf_checked(request: Request, session: PageSession) -> None:
    """Every state-changing page request: the session's CSRF secret must come back, in the
    form (hidden field) or, for HTMX requests, in the X-CSRF-Token header."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not session.csrf_matches(sent):
        raise CsrfRefused()


Csrf = Depends(csrf_checked)


async def form_data(request: Request) -> dict[str, str]:
    """The posted form's text fields (files are not accepted anywhere)."""
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


Form = Annotated[dict[str, str], Depends(form_data)]
