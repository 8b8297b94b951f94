"""Google's "Sign in with Google" button on /login and /signup, when GOOGLE_CLIENT_IDS is set.

Google Identity Services' script (loaded from accounts.google.com) draws the button; our own
static script hands the ID token it returns to a hidden form that posts it, with the page's
session CSRF token like every other form, to POST /login/google, which signs in through the
same service as POST /api/auth/google. (GIS can also post the token to a `login_uri` itself,
guarded by its `g_csrf_token` cookie-and-field double submit: that cookie is set by script
and readable by any script or subdomain of the site, and Google's cross-site POST would not
carry our SameSite=Lax session cookie, so it would not be the session-bound check the other
forms have.)

Only those two pages relax their Content-Security-Policy, and only by what the button needs;
with GOOGLE_CLIENT_IDS unset they reference nothing of Google's and keep the self-only policy.
"""

from __future__ import annotations

from medgrader.config import Settings
from medgrader.web.rendering import PAGE_CSP

GOOGLE_SCRIPT = "https://accounts.google.com/gsi/client"
# Google's documented sources for the button: its script, the frames and requests under
# /gsi/, and its stylesheet.
GOOGLE_PAGE_CSP = (
    f"default-src 'self'; script-src 'self' {GOOGLE_SCRIPT};"
    " frame-src https://accounts.google.com/gsi/;"
    " connect-src 'self' https://accounts.google.com/gsi/;"
    " style-src 'self' https://accounts.google.com/gsi/style;"
    " img-src 'self' data:; base-uri 'none'; object-src 'none'"
)


def button_client_id(settings: Settings) -> str | None:
    """The OAuth client id the button uses: the first of GOOGLE_CLIENT_IDS (the web client's;
    the others, e.g. mobile apps', are accepted by the API too). None: no button."""
    ids = settings.google_client_id_list
    return ids[0] if ids else None


def page_options(settings: Settings) -> dict[str, object]:
    """What render() needs for a sign-in page: the button's client id and the page's CSP."""
    client_id = button_client_id(settings)
    return {
        "google_client_id": client_id,
        "google_script": GOOGLE_SCRIPT,
        "csp": GOOGLE_PAGE_CSP if client_id else PAGE_CSP,
    }
