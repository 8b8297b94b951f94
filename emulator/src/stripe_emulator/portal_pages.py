"""The hosted Billing Portal (a portal session's ``url``) and hosted invoice pages.

Server-rendered HTML and plain form posts, like the checkout page, so a browser and a
test's HTTP client drive it alike:

- ``GET /p/session/{secret}``: the customer's plan (renewal or cancellation date), card and
  invoices;
- ``POST .../subscriptions/{id}/cancel``: cancel at the end of the period; ``.../renew``
  undoes it;
- ``POST .../payment_method`` with ``card_number`` (and ``name``): replace the card; a card
  that cannot be saved answers 402 with the page and the message;

each change answers ``303`` back to the portal. ``GET /i/{invoice_id}`` is an invoice's
``hosted_invoice_url``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from stripe_emulator.core import Emulator
from stripe_emulator.errors import StripeError
from stripe_emulator.forms import decode_form
from stripe_emulator.hosted import message_page, render
from stripe_emulator.money import format_amount
from stripe_emulator.operations import portal
from stripe_emulator.operations.subscription_state import interval_of, items_of, period_of
from stripe_emulator.periods import every
from stripe_emulator.store import StripeObject

router = APIRouter(include_in_schema=False)


def day(timestamp: int) -> str:
    """A date as people read it: ``4 January 2027`` (UTC)."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return f"{moment.day} {moment:%B %Y}"


def _emu(request: Request) -> Emulator:
    return request.app.state.emulator


def _subscription_view(emu: Emulator, sub: StripeObject) -> dict[str, Any]:
    item = items_of(emu, sub)[0]
    product = emu.store.products.get(item["price"]["product"]) or {}
    amount = format_amount(item["price"]["unit_amount"] * item["quantity"], sub["currency"])
    end = period_of(emu, sub)[1]
    return {
        "id": sub["id"],
        "plan": product.get("name", item["price"]["product"]),
        "price": f"{amount} / {every(*interval_of(item))}",
        "status": sub["status"],
        "renews_on": day(end),
        "cancels_on": day(sub["cancel_at"]) if sub["cancel_at"] else None,
    }


def _invoice_view(invoice: StripeObject) -> dict[str, Any]:
    return {
        "date": day(invoice["created"]),
        "number": invoice["number"] or invoice["id"],
        "url": invoice["hosted_invoice_url"],
        "amount": format_amount(invoice["total"], invoice["currency"]),
        "status": invoice["status"],
    }


def _portal(
    emu: Emulator,
    session: StripeObject,
    secret: str,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
    card_number: str = "",
) -> HTMLResponse:
    pm = portal.customer_card(emu, session)
    return render(
        "portal.html",
        status,
        session=session,
        customer=emu.store.customers.get(session["customer"]) or {"id": session["customer"]},
        subscriptions=[
            _subscription_view(emu, s) for s in portal.customer_subscriptions(emu, session)
        ],
        card=(pm or {}).get("card"),
        invoices=[_invoice_view(i) for i in portal.customer_invoices(emu, session)],
        error=error,
        notice=notice,
        card_number=card_number,
        # Relative to /p/session/{secret}, so the page also works under a mount prefix.
        action=secret,
    )


def _not_found() -> HTMLResponse:
    return message_page("Not found", "This portal session does not exist.", 404)


@router.get("/p/session/{secret}")
async def show(request: Request, secret: str) -> Response:
    emu = _emu(request)
    session = portal.session_by_secret(emu, secret)
    if session is None:
        return _not_found()
    return _portal(emu, session, secret)


@router.post("/p/session/{secret}/subscriptions/{sub_id}/{action}")
async def change_subscription(request: Request, secret: str, sub_id: str, action: str) -> Response:
    emu = _emu(request)
    session = portal.session_by_secret(emu, secret)
    if session is None or action not in ("cancel", "renew"):
        return _not_found()
    try:
        portal.set_cancel_at_period_end(emu, session, sub_id, cancel=action == "cancel")
    except StripeError as exc:
        return _portal(emu, session, secret, exc.status, error=exc.message)
    return RedirectResponse(session["url"], status_code=303)


@router.post("/p/session/{secret}/payment_method")
async def change_card(request: Request, secret: str) -> Response:
    emu = _emu(request)
    session = portal.session_by_secret(emu, secret)
    if session is None:
        return _not_found()
    form = decode_form(await request.body())
    number = str(form.get("card_number") or "").strip()
    name = str(form.get("name") or "").strip() or None
    if not number:
        return _portal(emu, session, secret, 400, error="Enter your card number.")
    try:
        portal.replace_card(emu, session, number, name)
    except StripeError as exc:
        return _portal(emu, session, secret, exc.status, error=exc.message, card_number=number)
    return RedirectResponse(session["url"], status_code=303)


@router.get("/i/{invoice_id}")
async def invoice_page(request: Request, invoice_id: str) -> Response:
    emu = _emu(request)
    invoice = emu.store.invoices.get(invoice_id)
    if invoice is None or invoice["status"] == "draft":
        return message_page("Not found", "No such invoice.", 404)
    currency = invoice["currency"]
    lines = [
        {
            "description": line["description"],
            "period": f"{day(line['period']['start'])} to {day(line['period']['end'])}",
            "amount": format_amount(line["amount"], currency),
        }
        for line in invoice["lines"]["data"]
    ]
    return render(
        "invoice.html",
        invoice=invoice,
        date=day(invoice["created"]),
        lines=lines,
        paid=format_amount(invoice["amount_paid"], currency),
        due=format_amount(invoice["amount_remaining"], currency),
    )
