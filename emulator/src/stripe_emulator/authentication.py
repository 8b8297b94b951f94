"""The 3D Secure challenge page (``/3ds/{payment_intent_id}``), as a bank would show it.

A PaymentIntent confirmed on-session with a card that always authenticates waits in
``requires_action``; its ``next_action.use_stripe_sdk.stripe_js`` points here. ``GET``
shows the challenge, ``POST outcome=complete`` authenticates (the payment then goes on),
``POST outcome=fail`` fails it, as Stripe's test authentication page lets a tester do.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from stripe_emulator.core import Emulator
from stripe_emulator.forms import decode_form
from stripe_emulator.hosted import message_page, render
from stripe_emulator.money import format_amount
from stripe_emulator.operations.card_payments import authenticate
from stripe_emulator.store import StripeObject

router = APIRouter(include_in_schema=False)


def _waiting(emu: Emulator, pi_id: str) -> StripeObject | None:
    pi = emu.store.payment_intents.get(pi_id)
    return pi if pi is not None and pi["status"] == "requires_action" else None


@router.get("/3ds/{pi_id}")
async def challenge(request: Request, pi_id: str) -> HTMLResponse:
    pi = _waiting(request.app.state.emulator, pi_id)
    if pi is None:
        return message_page("Nothing to authenticate", "No payment waits for authentication.", 404)
    amount = format_amount(pi["amount"], pi["currency"])
    return render("authenticate.html", amount=amount, action=pi_id)


@router.post("/3ds/{pi_id}")
async def answer(request: Request, pi_id: str) -> HTMLResponse:
    emu = request.app.state.emulator
    pi = _waiting(emu, pi_id)
    if pi is None:
        return message_page("Nothing to authenticate", "No payment waits for authentication.", 404)
    outcome = str(decode_form(await request.body()).get("outcome") or "")
    if outcome not in ("complete", "fail"):
        return message_page("Choose an answer", "Complete or fail the authentication.", 400)
    error = authenticate(emu, pi, completed=outcome == "complete")
    if error is not None:
        return message_page("Payment failed", error.message, error.status)
    return message_page("Authenticated", "The payment is complete. You can close this page.")
