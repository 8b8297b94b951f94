"""The hosted checkout page a session's ``url`` points at (``/c/pay/{session_id}``).

Plain server-rendered HTML and ordinary form posts, no JavaScript, so a browser and
an HTTP client in a test drive it the same way: ``GET`` shows the line items and the
total; ``POST`` with ``payment_method=card`` and ``card_number=...`` (optionally
``card_expiry=MM / YY``; or ``payment_method=bank_transfer``) pays, then answers
``303 See Other`` to the session's ``success_url`` with ``{CHECKOUT_SESSION_ID}`` filled
in. A setup-mode session shows no amounts and saves the card instead; a session a
coupon made free asks for no payment method. A declined card
answers 402 with the page and the decline message; the session stays open. The
cancel link goes straight to ``cancel_url``, as on Stripe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from stripe_emulator.cards import CARD_CHOICES
from stripe_emulator.core import Emulator
from stripe_emulator.errors import StripeError
from stripe_emulator.forms import decode_form
from stripe_emulator.money import format_amount
from stripe_emulator.operations import checkout, discounts, payments
from stripe_emulator.payment_methods import delayed_method_for
from stripe_emulator.periods import every
from stripe_emulator.store import StripeObject

router = APIRouter(include_in_schema=False)

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)

PLACEHOLDER = "{CHECKOUT_SESSION_ID}"


def _emu(request: Request) -> Emulator:
    return request.app.state.emulator


def render(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """One of the emulator's pages (``templates/``), as HTML."""
    return HTMLResponse(_templates.get_template(template).render(**context), status_code=status)


def message_page(
    heading: str,
    message: str,
    status: int = 200,
    link: str | None = None,
    link_text: str = "Continue",
) -> HTMLResponse:
    return render(
        "message.html", status, heading=heading, message=message, link=link, link_text=link_text
    )


def _page(
    emu: Emulator,
    session: StripeObject,
    status: int = 200,
    error: str | None = None,
    card_number: str = "",
) -> HTMLResponse:
    currency = session["currency"]
    items = []
    for item in emu.store.line_items.get(session["id"], []):
        product = checkout.product_of(emu, session["id"], item)
        unit = format_amount(item["price"]["unit_amount"], currency)
        if item["price"]["recurring"]:
            recurring = item["price"]["recurring"]
            unit += f" / {every(recurring['interval'], recurring['interval_count'])}"
        items.append(
            {
                "name": product.get("name", item["description"]),
                "description": product.get("description"),
                "quantity": item["quantity"],
                "unit": unit,
                "amount": format_amount(item["amount_total"], currency),
            }
        )
    email = payments.known_email(emu, session)
    bank_method = delayed_method_for(currency or "gbp")
    setup = session["mode"] == "setup"
    free = discounts.is_free(session)
    usage = emu.store.private[session["id"]]["payment_intent_data"].get("setup_future_usage")
    return render(
        "checkout.html",
        status,
        session=session,
        items=items,
        setup=setup,
        saves_card=setup or usage is not None,
        total=None if setup else format_amount(session["amount_total"], currency),
        discount=_discount_line(emu, session),
        free=free,
        test_cards=CARD_CHOICES,
        error=error,
        email=email,
        card_number=card_number,
        # Relative, so the page also works when the emulator is mounted under a prefix.
        action=session["id"],
        card_allowed=not free and "card" in session["payment_method_types"],
        bank_allowed=not (setup or free) and bank_method in session["payment_method_types"],
        bank_method=bank_method.replace("_", " "),
    )


def _discount_line(emu: Emulator, session: StripeObject) -> dict[str, str] | None:
    """The subtotal and the coupon's line, as Checkout shows a discount."""
    details = session["total_details"] or {}
    if not details.get("amount_discount"):
        return None
    currency = session["currency"]
    coupon_id = session["discounts"][0]["coupon"]
    coupon = emu.store.coupons.get(coupon_id, {})
    label = coupon.get("name") or coupon_id
    if coupon.get("percent_off") is not None:
        label += f" ({coupon['percent_off']:g}% off)"
    return {
        "subtotal": format_amount(session["amount_subtotal"], currency),
        "label": label,
        "amount": "\u2212" + format_amount(details["amount_discount"], currency),
    }


_CLOSED_TEXT = {
    "paid": "Thanks for your payment.",
    "unpaid": "Your bank transfer has been started; it will be confirmed later.",
    "no_payment_required": "Your order is complete; nothing was charged.",
}


def _closed(session: StripeObject, status: int) -> HTMLResponse:
    if session["status"] == "complete":
        text = _CLOSED_TEXT[session["payment_status"]]
        if session["mode"] == "setup":
            text = "Your card has been saved."
        return message_page(
            "Payment complete",
            f"This Checkout Session is complete. {text}",
            status,
            link=session["success_url"] and _success_url(session),
            link_text="Return to the merchant",
        )
    return message_page("Session expired", "This Checkout Session is no longer active.", status)


def _success_url(session: StripeObject) -> str:
    if not session["success_url"]:
        return f"{session['id']}/complete"  # relative to /c/pay/{id}
    return str(session["success_url"]).replace(PLACEHOLDER, session["id"])


def _session_or_404(emu: Emulator, session_id: str) -> StripeObject | None:
    try:
        return checkout.get_session(emu, session_id)
    except StripeError:
        return None


@router.get("/c/pay/{session_id}")
async def show(request: Request, session_id: str) -> Response:
    emu = _emu(request)
    session = _session_or_404(emu, session_id)
    if session is None:
        return message_page("Not found", "No such Checkout Session.", 404)
    if session["status"] != "open":
        return _closed(session, 200)
    return _page(emu, session)


@router.post("/c/pay/{session_id}")
async def submit(request: Request, session_id: str) -> Response:
    emu = _emu(request)
    session = _session_or_404(emu, session_id)
    if session is None:
        return message_page("Not found", "No such Checkout Session.", 404)
    if session["status"] != "open":
        return _closed(session, 409)
    form = decode_form(await request.body())
    method = str(form.get("payment_method") or "card")
    email = str(form.get("email") or "").strip() or None
    name = str(form.get("name") or "").strip() or None
    card_number = str(form.get("card_number") or "").strip()
    expiry = str(form.get("card_expiry") or "").strip() or None
    if email is None and payments.known_email(emu, session) is None:
        return _page(emu, session, 400, error="Enter your email address.", card_number=card_number)
    try:
        if discounts.is_free(session):
            payments.complete_free(emu, session, email, name)
        elif method == "bank_transfer":
            payments.pay_with_bank_debit(emu, session_id, email=email, name=name)
        elif method == "card":
            if not card_number:
                return _page(emu, session, 400, error="Enter your card number.")
            payments.pay_with_card(
                emu, session_id, card_number, email=email, name=name, expiry=expiry
            )
        else:
            return _page(emu, session, 400, error="Choose a payment method.")
    except StripeError as exc:
        return _page(emu, session, exc.status, error=exc.message, card_number=card_number)
    return RedirectResponse(_success_url(session), status_code=303)


@router.get("/c/pay/{session_id}/complete")
async def complete(request: Request, session_id: str) -> Response:
    session = _session_or_404(_emu(request), session_id)
    if session is None:
        return message_page("Not found", "No such Checkout Session.", 404)
    return _closed(session, 200)
