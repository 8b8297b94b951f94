"""Sign in with Google on the pages: Google's button on /login and /signup (only when
GOOGLE_CLIENT_IDS is set, with the Content-Security-Policy relaxed by exactly what the
button needs), the ID token posted with the page's CSRF token to POST /login/google, signed
in by the API's own service (same checks, same linking, the welcome bonus once).

The browser test stays offline: every request to accounts.google.com is answered by a local
stand-in for Google's script (Playwright's routing), whose button hands the page a token
signed by the test's Google key, as Google's would."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from medgrader.config import Settings
from medgrader.web.google_button import GOOGLE_PAGE_CSP, GOOGLE_SCRIPT
from medgrader.web.rendering import PAGE_CSP
from tests.support.accounts import Account, unique_email
from tests.support.google import GoogleIssuer
from tests.support.live_server import LiveServer
from tests.web.conftest import Watched
from tests.web.support import csrf_from, page_client

WELCOME = 100


def directives(csp: str) -> dict[str, str]:
    """A Content-Security-Policy as {directive: its sources}."""
    found = {}
    for part in csp.split(";"):
        name, _, sources = part.strip().partition(" ")
        if name:
            found[name] = sources.strip()
    return found


def welcome_bonuses(db: psycopg.Connection, email: str) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT t.amount FROM credit_transactions t JOIN users u ON u.id = t.student_id"
        " WHERE lower(u.email) = lower(%s) AND t.source_type = 'WELCOME_BONUS'",
        (email,),
    ).fetchall()


def users_named(db: psycopg.Connection, email: str) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT id, google_sub FROM users WHERE lower(email) = lower(%s)", (email,)
    ).fetchall()


def post_credential(http: httpx.Client, token: str, page: str = "/login") -> httpx.Response:
    """What the button's hidden form posts: the credential with the page's CSRF token."""
    csrf = csrf_from(http.get(page).text)
    return http.post("/login/google", data={"credential": token, "next": "", "csrf_token": csrf})


# -- without GOOGLE_CLIENT_IDS ---------------------------------------------------------------


def test_unset_no_google_script_and_the_policy_stays_self_only(web_app: LiveServer) -> None:
    with page_client(web_app) as http:
        for path in ("/login", "/signup"):
            page = http.get(path)
            assert page.status_code == 200
            assert "accounts.google.com" not in page.text
            assert "google-signin.js" not in page.text
            csp = page.headers["content-security-policy"]
            assert csp == f"{PAGE_CSP}; frame-ancestors 'none'"
            assert "google" not in csp
        refused = post_credential(http, "a.b.c")
        assert refused.status_code == 404  # no such sign-in here


# -- with GOOGLE_CLIENT_IDS ------------------------------------------------------------------


def test_set_the_button_is_there_and_the_policy_allows_only_what_it_needs(
    google_web_app: LiveServer, settings: Settings, student: Account
) -> None:
    with page_client(google_web_app) as http:
        for path, text in (("/login", "signin_with"), ("/signup", "signup_with")):
            page = http.get(path)
            assert page.status_code == 200
            assert f'<script src="{GOOGLE_SCRIPT}" async defer></script>' in page.text
            first_id = settings.google_client_id_list[0]
            assert f'data-client-id="{first_id}" data-text="{text}"' in page.text
            policy = directives(page.headers["content-security-policy"])
            assert policy == {
                "default-src": "'self'",
                "script-src": "'self' https://accounts.google.com/gsi/client",
                "frame-src": "https://accounts.google.com/gsi/",
                "connect-src": "'self' https://accounts.google.com/gsi/",
                "style-src": "'self' https://accounts.google.com/gsi/style",
                "img-src": "'self' data:",
                "base-uri": "'none'",
                "object-src": "'none'",
                "frame-ancestors": "'none'",
            }
            assert page.headers["content-security-policy"].startswith(GOOGLE_PAGE_CSP)
        # Every other page keeps the self-only policy.
        csrf = csrf_from(http.get("/login").text)
        signed = http.post("/login", data={"email": student.email, "password": student.password,
                                           "csrf_token": csrf})  # fmt: skip
        assert signed.status_code == 303
        wallet = http.get("/wallet")
        assert wallet.status_code == 200
        assert wallet.headers["content-security-policy"] == f"{PAGE_CSP}; frame-ancestors 'none'"


def test_the_credential_needs_the_pages_csrf_token(
    google_web_app: LiveServer, google_issuer: GoogleIssuer, db: psycopg.Connection
) -> None:
    email = unique_email("google-csrf")
    token = google_issuer.token(email=email)
    with page_client(google_web_app) as http:
        http.get("/login")  # a session of its own, whose token the post leaves out
        forged = http.post("/login/google", data={"credential": token})
        assert forged.status_code == 403
        wrong = http.post("/login/google", data={"credential": token, "csrf_token": "x" * 43})
        assert wrong.status_code == 403
    assert users_named(db, email) == []  # nothing signed in, nothing created


def test_a_token_google_did_not_issue_for_us_is_refused_and_writes_nothing(
    google_web_app: LiveServer, google_issuer: GoogleIssuer, db: psycopg.Connection
) -> None:
    email = unique_email("google-bad")
    with page_client(google_web_app) as http:
        for token in (
            google_issuer.token(email=email, aud="someone-else.apps.googleusercontent.com"),
            google_issuer.token(email=email, email_verified=False),
            "not-a-token",
        ):
            refused = post_credential(http, token)
            assert refused.status_code == 401, refused.text
            assert "The Google sign-in could not be verified." in refused.text
            assert 'id="google-button"' in refused.text  # the page again, to try once more
        empty = post_credential(http, "")
        assert empty.status_code == 422
    assert users_named(db, email) == []


def test_a_verified_account_with_the_same_email_is_linked_not_duplicated(
    google_web_app: LiveServer, google_issuer: GoogleIssuer, student: Account,
    db: psycopg.Connection,
) -> None:  # fmt: skip
    sub = "linked-" + student.id.replace("-", "")[:14]
    with page_client(google_web_app) as http:
        signed = post_credential(http, google_issuer.token(email=student.email, sub=sub))
        assert signed.status_code == 303, signed.text
        assert signed.headers["location"] == "/wallet"
        wallet = http.get("/wallet")
        assert student.email in wallet.text
    (user,) = users_named(db, student.email)
    assert (str(user[0]), user[1]) == (student.id, sub)  # the same account, now linked
    assert len(welcome_bonuses(db, student.email)) == 1  # from the password sign-up only


# -- in the browser --------------------------------------------------------------------------

STAND_IN = """
(function () {
  var config = null;
  window.google = {accounts: {id: {
    initialize: function (options) { config = options; },
    renderButton: function (holder, options) {
      var button = document.createElement("button");
      button.type = "button";
      button.id = "google-stand-in";
      button.textContent = "Sign in with Google (stand-in)";
      button.setAttribute("data-client-id", config.client_id);
      button.setAttribute("data-text", options.text);
      button.addEventListener("click", function () {
        config.callback({credential: TOKEN, select_by: "btn", clientId: config.client_id});
      });
      holder.appendChild(button);
    },
    prompt: function () {},
    disableAutoSelect: function () {}
  }}};
  if (typeof window.onGoogleLibraryLoad === "function") { window.onGoogleLibraryLoad(); }
})();
"""


@pytest.fixture
def google_tab(
    browser: Any, google_web_app: LiveServer
) -> Iterator[tuple[Watched, dict[str, str]]]:
    """A fresh browser profile on the Google-enabled app; accounts.google.com is answered by
    the stand-in (its button hands back `token["value"]`), never by the network."""
    token = {"value": ""}
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.set_default_timeout(20_000)
    served: list[str] = []

    def google(route: Any) -> None:
        served.append(route.request.url)
        if route.request.url == GOOGLE_SCRIPT:
            body = STAND_IN.replace("TOKEN", json.dumps(token["value"]))
            route.fulfill(status=200, content_type="text/javascript", body=body)
        else:
            route.fulfill(status=404, body="")

    context.route(re.compile(r"^https://accounts\.google\.com/"), google)
    tab = Watched(context, google_web_app.url, ("https://accounts.google.com/",))
    try:
        yield tab, token
        tab.assert_clean()
        assert set(served) == {GOOGLE_SCRIPT}  # only the script, answered by the stand-in
    finally:
        context.close()


@pytest.mark.e2e  # a real browser (with the other browser tests: one chromium)
@pytest.mark.xdist_group("browser")
def test_a_student_signs_in_with_google_in_the_browser_and_gets_the_bonus_once(
    google_tab: tuple[Watched, dict[str, str]], google_issuer: GoogleIssuer,
    settings: Settings, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    tab, token = google_tab
    page = tab.page
    email = unique_email("google-browser")
    token["value"] = google_issuer.token(email=email, given_name="Ada", family_name="Lovelace")

    tab.open("/login")
    button = page.locator("#google-button #google-stand-in")
    button.wait_for()
    assert button.get_attribute("data-client-id") == settings.google_client_id_list[0]
    tab.shot("login-google")
    button.click()
    page.wait_for_url(re.compile(r"/wallet$"))
    assert page.inner_text("#balance") == f"{WELCOME} credits"
    assert email in page.inner_text("header")
    tab.shot("wallet-after-google")
    assert welcome_bonuses(db, email) == [(WELCOME,)]

    page.click("text=Sign out")
    page.wait_for_url(re.compile(r"/login$"))
    # The same Google account again, from the sign-up page this time: signed in, no new bonus.
    token["value"] = google_issuer.token(email=email, sub=_sub_of(db, email))
    tab.open("/signup")
    again = page.locator("#google-button #google-stand-in")
    again.wait_for()
    assert again.get_attribute("data-text") == "signup_with"
    again.click()
    page.wait_for_url(re.compile(r"/wallet$"))
    assert page.inner_text("#balance") == f"{WELCOME} credits"
    assert welcome_bonuses(db, email) == [(WELCOME,)]
    assert len(users_named(db, email)) == 1


def _sub_of(db: psycopg.Connection, email: str) -> str:
    (row,) = users_named(db, email)
    assert row[1] is not None
    return str(row[1])
