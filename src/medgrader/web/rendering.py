"""Jinja2 for the pages: one environment, autoescaped, with the filters money needs."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from medgrader.core.money import format_money, pounds_value
from medgrader.web.session import COOKIE_NAME, CSRF_FIELD, BrowserSession

LONDON = ZoneInfo("Europe/London")
TEMPLATES = Path(__file__).parent / "templates"
STATE_SESSION = "browser_session"
STATE_NEW_SESSION = "browser_session_new"


def _when(value: datetime | None) -> str:
    """A timestamp as the people running a UK business read it: London time."""
    if value is None:
        return "—"
    return value.astimezone(LONDON).strftime("%d %b %Y %H:%M")


def _day(value: date | None) -> str:
    return value.strftime("%d %b %Y") if value is not None else "—"


def _long_day(value: datetime | None) -> str:
    """An expiry as a student reads it: "3 March 2027" (London)."""
    if value is None:
        return "never"
    local = value.astimezone(LONDON)
    return f"{local.day} {local:%B %Y}"


def _credits(value: int) -> str:
    return f"{value:,}"


def _per_credit(pence: int, credits: int) -> str:
    """Price per credit in pence with one decimal, from integers only (1000p/100 -> 10.0p)."""
    tenths = (pence * 10 + credits // 2) // credits
    return f"{tenths // 10}.{tenths % 10}p"


def _replace_param(params: Any, name: str, value: object) -> str:
    """The query string with one parameter replaced (pager links keep the filters)."""
    pairs = [(k, v) for k, v in params.multi_items() if k != name]
    return urlencode([*pairs, (name, str(value))])


environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters.update(
    money=format_money,
    when=_when,
    day=_day,
    long_day=_long_day,
    credits=_credits,
    pounds=pounds_value,
    per_credit=_per_credit,
    replace_param=_replace_param,
)


def browser_session(request: Request) -> BrowserSession:
    return request.state.browser_session  # type: ignore[no-any-return]


# Everything a page uses is the app's own (no inline script or style anywhere); the
# security headers middleware adds frame-ancestors. No form-action: Buy redirects to Stripe.
PAGE_CSP = "default-src 'self'; img-src 'self' data:; base-uri 'none'; object-src 'none'"


def finish(request: Request, response: Response, *, csp: str = PAGE_CSP) -> Response:
    """Headers every page gets (its own CSP, PAGE_CSP unless the page needs more: the sign-in
    pages' Google button; never cached: pages show balances and payments), and the session
    this request started (an anonymous visitor's CSRF secret)."""
    response.headers["Content-Security-Policy"] = csp
    response.headers["Cache-Control"] = "no-store"
    if getattr(request.state, STATE_NEW_SESSION, False):
        request.app.state.session_codec.store(response, browser_session(request))
    return response


def render(
    request: Request,
    template: str,
    status_code: int = 200,
    *,
    csp: str = PAGE_CSP,
    **context: Any,
) -> Response:
    session: BrowserSession | None = getattr(request.state, STATE_SESSION, None)
    if session is None:  # an error page rendered before the session dependency ran
        session = request.app.state.session_codec.decode(request.cookies.get(COOKIE_NAME))
    html = environment.get_template(template).render(
        request=request,
        csrf_field=CSRF_FIELD,
        csrf_token=session.csrf if session else "",
        viewer=getattr(request.state, "viewer", None),
        **context,
    )
    return finish(request, HTMLResponse(html, status_code=status_code), csp=csp)


def redirect(request: Request, url: str) -> Response:
    # 303: the browser follows a form POST with a GET.
    return finish(request, RedirectResponse(url, status_code=303))
