"""Billing Portal sessions and what a customer does in the portal.

``POST /v1/billing_portal/sessions`` (``customer``, ``return_url``) answers a session whose
``url`` is the hosted portal (:mod:`stripe_emulator.portal_pages`). There, with the
emulator's one (default) portal configuration, the customer can:

- cancel a subscription at the end of its period, or undo that ("renew"): the same update
  as ``cancel_at_period_end`` through the API (``customer.subscription.updated``);
- replace the card: the new card is saved (``payment_method.attached``) and becomes the
  customer's ``invoice_settings.default_payment_method`` (``customer.updated``) and the
  ``default_payment_method`` of each of their live subscriptions
  (``customer.subscription.updated``), so the next attempt (renewal or retry) charges it.
  A card that cannot be saved (4000 0000 0000 0002, ...) is refused; 0341 saves fine;
- see their invoices.

Every change made in the portal is automatic: its events carry no request id.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from stripe_emulator.core import AUTOMATIC, Emulator, RequestContext
from stripe_emulator.errors import StripeError, invalid_param, no_such
from stripe_emulator.ids import new_id
from stripe_emulator.objects.billing import build_portal_session
from stripe_emulator.operations import payment_methods
from stripe_emulator.operations.customers import get_customer
from stripe_emulator.operations.subscription_state import LIVE, emit_updated
from stripe_emulator.operations.subscriptions import update_subscription
from stripe_emulator.params import opt_str, refuse_given, reject_unknown, require
from stripe_emulator.store import StripeObject

CREATE_PARAMS = {"configuration", "customer", "customer_account", "expand", "flow_data",
                 "locale", "on_behalf_of", "return_url"}  # fmt: skip
# Where the emulator keeps its one portal configuration's id (created on first use).
_CONFIGURATION = "billing_portal.configuration"


def default_configuration(emu: Emulator) -> str:
    state = emu.store.private.setdefault(_CONFIGURATION, {})
    if "id" not in state:
        state["id"] = new_id("bpc_")
    return str(state["id"])


def create_portal_session(
    emu: Emulator, params: dict[str, Any], ctx: RequestContext
) -> StripeObject:
    reject_unknown(params, CREATE_PARAMS)
    refuse_given(params, {"customer_account", "flow_data", "on_behalf_of"})
    customer = get_customer(emu, opt_str(require(params, "customer"), "customer") or "", "customer")
    configuration = default_configuration(emu)
    if params.get("configuration") not in (None, "", configuration):
        raise no_such("billing_portal.configuration", str(params["configuration"]),
                      param="configuration")  # fmt: skip
    return_url = opt_str(params.get("return_url"), "return_url")
    if return_url:
        parts = urlsplit(return_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise invalid_param("return_url", "Not a valid URL: return_url", "url_invalid")
    session = build_portal_session(
        created=emu.now(),
        customer=customer["id"],
        configuration=configuration,
        return_url=return_url,
        locale=opt_str(params.get("locale"), "locale"),
        base_url=emu.config.base_url,
    )
    emu.store.add(session)
    emu.store.private[session["id"]] = {"secret": session["url"].rsplit("/", 1)[1]}
    emu.emit("billing_portal.session.created", session, ctx)
    return session


def session_by_secret(emu: Emulator, secret: str) -> StripeObject | None:
    for session in emu.store.portal_sessions.values():
        if emu.store.private.get(session["id"], {}).get("secret") == secret:
            return session
    return None


def customer_subscriptions(emu: Emulator, session: StripeObject) -> list[StripeObject]:
    return [
        s
        for s in emu.store.subscriptions.values()
        if s["customer"] == session["customer"] and s["status"] in LIVE
    ]


def _own_subscription(emu: Emulator, session: StripeObject, sub_id: str) -> StripeObject:
    for sub in customer_subscriptions(emu, session):
        if sub["id"] == sub_id:
            return sub
    raise StripeError("No such subscription for this customer.", status=404, param="subscription")


def set_cancel_at_period_end(
    emu: Emulator, session: StripeObject, sub_id: str, cancel: bool
) -> StripeObject:
    sub = _own_subscription(emu, session, sub_id)
    params = {"cancel_at_period_end": "true" if cancel else "false"}
    return update_subscription(emu, sub["id"], params, AUTOMATIC)


def replace_card(emu: Emulator, session: StripeObject, number: str, name: str | None) -> None:
    """Save a new card and make it the default for the customer and their subscriptions."""
    customer = get_customer(emu, session["customer"])
    # A declined card cannot be saved (a 402); 0341 can (its charges fail later).
    pm = payment_methods.save_card(emu, customer["id"], number, email=customer.get("email"),
                                   name=name)  # fmt: skip
    settings = customer["invoice_settings"]
    previous = {"invoice_settings": {"default_payment_method": settings["default_payment_method"]}}
    settings["default_payment_method"] = pm["id"]
    emu.emit("customer.updated", customer, AUTOMATIC, previous_attributes=previous)
    for sub in customer_subscriptions(emu, session):
        before = {"default_payment_method": sub["default_payment_method"]}
        sub["default_payment_method"] = pm["id"]
        emit_updated(emu, sub, before)


def customer_card(emu: Emulator, session: StripeObject) -> StripeObject | None:
    """The card the portal shows: the customer's default, else their subscription's."""
    customer = emu.store.customers.get(session["customer"]) or {}
    pm_id = (customer.get("invoice_settings") or {}).get("default_payment_method")
    if pm_id is None:
        subs = customer_subscriptions(emu, session)
        pm_id = subs[0]["default_payment_method"] if subs else None
    return emu.store.payment_methods.get(pm_id or "")


def customer_invoices(emu: Emulator, session: StripeObject) -> list[StripeObject]:
    invoices = [
        i
        for i in emu.store.invoices.values()
        if i["customer"] == session["customer"] and i["status"] != "draft"
    ]
    return sorted(invoices, key=lambda i: -(emu.store.order(i["id"]) or 0))
