"""Development only: the pages Stripe sends the buyer back to, when FRONTEND_URL is the API.

In the demo there is no frontend, so /credits/success, /credits/cancel and /dashboard are
served here: the success page does what the real frontend does on return (ask for the
session's status, which fulfils a paid session at once) and shows the outcome and a link to
the demo mailbox where the receipt lands. Never mounted in production.

The page needs no sign-in (Stripe sends the buyer back with only the session id), so it shows
what the session id already stands for (the package, the amount, the outcome) and never the
student's balance or anything else about their account: anyone holding the URL saw the
balance before.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from medgrader.checkout import repository as sessions
from medgrader.checkout.stripe_sync import refresh_pending
from medgrader.core.context import short_transaction
from medgrader.core.deps import Ctx
from medgrader.notifications.money import format_money

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;color:#1f2933}}
td{{padding:.2rem 1rem .2rem 0}} .note{{color:#52606d;font-size:.9rem}}</style></head>
<body><h1>{title}</h1>{body}<p class="note">A development page served by the API because
FRONTEND_URL points at it; the real frontend replaces it.</p></body></html>"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=escape(title), body=body), status_code=status)


def dev_checkout_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    links = (
        '<p><a href="/dev/mailbox">Open the demo mailbox</a> (your receipt) · '
        '<a href="/docs">API docs</a></p>'
    )

    @router.get("/credits/success", response_class=HTMLResponse)
    async def success(ctx: Ctx, session_id: str = "") -> HTMLResponse:
        # Short transactions around the Stripe call, as in the status endpoint.
        row = None
        if session_id:
            async with short_transaction(ctx) as session:
                row = await sessions.by_stripe_id(session, session_id)
        if row is None:
            return _page("Unknown checkout session", links, status=404)
        row = await refresh_pending(ctx, row)
        outcome = {
            "COMPLETED": "Payment received: your credits have been added.",
            "PENDING": "Waiting for the payment to settle; refresh in a moment.",
            "EXPIRED": "This checkout session expired unpaid.",
            "FAILED": "The payment failed; nothing was charged.",
        }[row.status]
        amount = escape(format_money(row.amount_pence, row.currency))
        body = (
            f"<p>{escape(outcome)}</p><table>"
            f"<tr><td>Status</td><td>{escape(row.status)}</td></tr>"
            f"<tr><td>Package</td><td>{escape(row.package_name)}</td></tr>"
            f"<tr><td>Credits</td><td>{row.credits}</td></tr>"
            f"<tr><td>Amount</td><td>{amount}</td></tr></table>"
            "<p>Your balance: <code>GET /api/credits/balance</code> (signed in).</p>"
            f"{links}"
        )
        return _page("Thank you" if row.status == "COMPLETED" else "Checkout", body)

    @router.get("/credits/cancel", response_class=HTMLResponse)
    async def cancel() -> HTMLResponse:
        return _page("Checkout cancelled", "<p>Nothing was charged.</p>" + links)

    @router.get("/dashboard", response_class=HTMLResponse)
    async def dashboard() -> HTMLResponse:
        return _page(
            "Dashboard",
            "<p>Your balance and history: <code>GET /api/me</code>, "
            "<code>GET /api/credits/transactions</code>.</p>" + links,
        )

    return router
