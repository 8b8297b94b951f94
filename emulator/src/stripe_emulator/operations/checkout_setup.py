"""Checkout in setup mode: the session saves a card for later use; nothing is paid.

Event sequences follow Stripe's:

- created: the session has its SetupIntent at once (``setup_intent.created``), no
  amounts and ``payment_status: no_payment_required``;
- a card that can be saved: the SetupIntent ``succeeded`` with its PaymentMethod, attached
  to the session's customer if it has one: ``payment_method.attached``,
  ``setup_intent.succeeded``, ``checkout.session.completed``;
- a declined card (0002, 9995, ...: they can never be saved): the SetupIntent keeps
  ``requires_payment_method`` with ``last_setup_error``, ``setup_intent.setup_failed``;
  the session stays open;
- expired: ``setup_intent.canceled`` (``abandoned``), then ``checkout.session.expired``.
"""

from __future__ import annotations

from typing import Any

from stripe_emulator.cards import TestCard
from stripe_emulator.core import Emulator, RequestContext
from stripe_emulator.errors import invalid_param
from stripe_emulator.ids import new_id
from stripe_emulator.objects.checkout import mark_complete
from stripe_emulator.objects.setup_intent import build_setup_intent
from stripe_emulator.operations import payment_methods
from stripe_emulator.params import as_dict, as_metadata, opt_str, reject_unknown
from stripe_emulator.store import StripeObject

_SETUP_INTENT_DATA_KEYS = {"description", "metadata", "on_behalf_of"}


def setup_intent_data(raw: Any) -> dict[str, Any]:
    """``setup_intent_data``: what the session's SetupIntent carries."""
    p = "setup_intent_data"
    data = as_dict(raw, p)
    reject_unknown(data, _SETUP_INTENT_DATA_KEYS, p)
    if data.get("on_behalf_of"):
        raise invalid_param(f"{p}[on_behalf_of]", "The Stripe emulator does not support Connect.")
    return {
        "description": opt_str(data.get("description"), f"{p}[description]", max_length=1000),
        "metadata": as_metadata(data.get("metadata", {}), f"{p}[metadata]"),
    }


def create_setup_intent(
    emu: Emulator, session: StripeObject, data: dict[str, Any], ctx: RequestContext
) -> StripeObject:
    """The session's SetupIntent, made with it (Stripe does not defer it as for payments)."""
    si = build_setup_intent(
        created=emu.now(),
        customer=session["customer"],
        description=data["description"],
        metadata=dict(data["metadata"]),
        payment_method_types=list(session["payment_method_types"]),
    )
    emu.store.add(si)
    session["setup_intent"] = si["id"]
    emu.emit("setup_intent.created", si, ctx)
    return si


def complete_with_card(
    emu: Emulator,
    session: StripeObject,
    card: TestCard,
    exp_month: int,
    exp_year: int,
    email: str,
    name: str | None,
) -> StripeObject:
    """Save ``card`` through the session's SetupIntent; a 402 ``card_error`` if declined."""
    si = emu.store.setup_intents[session["setup_intent"]]
    pm = payment_methods.new_card_payment_method(
        emu, card, exp_month=exp_month, exp_year=exp_year, email=email, name=name
    )
    if card.declined:
        error = card.error()
        pm_snapshot = emu.store.snapshot(pm)
        si["last_setup_error"] = {**error.body()["error"], "payment_method": pm_snapshot}
        emu.emit("setup_intent.setup_failed", si)
        error.extra["setup_intent"] = emu.store.snapshot(si)
        error.extra["payment_method"] = pm_snapshot
        raise error
    if session["customer"]:
        payment_methods.attach(emu, pm, session["customer"])
    si.update(
        status="succeeded",
        payment_method=pm["id"],
        latest_attempt=new_id("setatt_"),
        last_setup_error=None,
    )
    mark_complete(session, email, name, "no_payment_required")
    emu.emit("setup_intent.succeeded", si)
    emu.emit("checkout.session.completed", session)
    return session


def cancel_setup_intent(emu: Emulator, session: StripeObject, ctx: RequestContext) -> None:
    """An expired setup session's SetupIntent is canceled with it."""
    si = emu.store.setup_intents.get(session["setup_intent"] or "")
    if si is None or si["status"] in ("succeeded", "canceled"):
        return
    si.update(status="canceled", cancellation_reason="abandoned")
    emu.emit("setup_intent.canceled", si, ctx)
