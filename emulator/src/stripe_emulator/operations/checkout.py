"""Checkout Sessions: create, list, expire (explicitly or when ``expires_at`` passes).

``mode=payment`` sessions charge their line items (paid in ``payments``); ``mode=setup``
ones save a card for later (``checkout_setup``); ``mode=subscription`` ones start a
subscription (``checkout_subscription``). Each parameter is used, accepted as
cosmetic, or refused with a 400: none is silently ignored if it would change amounts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from stripe_emulator.core import AUTOMATIC, Emulator, RequestContext
from stripe_emulator.errors import StripeError, invalid_param, no_such
from stripe_emulator.lists import created_matcher
from stripe_emulator.money import MINIMUM_CHARGE, SUPPORTED, format_amount
from stripe_emulator.objects.checkout import build_session
from stripe_emulator.operations import checkout_setup, discounts
from stripe_emulator.operations.checkout_subscription import subscription_data
from stripe_emulator.operations.customers import get_customer
from stripe_emulator.operations.line_items import MAX_AMOUNT, parse_line_items
from stripe_emulator.params import (
    as_bool,
    as_dict,
    as_email,
    as_enum,
    as_int,
    as_metadata,
    as_str,
    exclusive,
    opt_str,
    reject_unknown,
    require,
)
from stripe_emulator.payment_methods import (
    check_ui_mode,
    session_payment_method_types,
    setup_payment_method_types,
)
from stripe_emulator.store import StripeObject

# Parameters the emulator acts on.
_USED = {
    "allow_promotion_codes", "allowed_payment_method_types", "billing_address_collection",
    "cancel_url", "client_reference_id", "currency", "customer", "customer_creation",
    "customer_email", "discounts", "expand", "expires_at", "line_items", "locale", "metadata",
    "mode", "payment_intent_data", "payment_method_types", "phone_number_collection",
    "setup_intent_data", "submit_type", "subscription_data", "success_url", "ui_mode",
}  # fmt: skip
# Real Stripe parameters that only change how the page looks or what it asks; accepted
# and ignored so that a real integration runs unchanged.
_COSMETIC = {
    "adaptive_pricing", "after_expiration", "branding_settings",
    "consent_collection", "custom_fields", "custom_text", "customer_account", "customer_update",
    "excluded_payment_method_types", "integration_identifier", "invoice_creation",
    "managed_payments", "name_collection", "origin_context", "payment_method_collection",
    "payment_method_configuration", "payment_method_data", "payment_method_options",
    "permissions", "redirect_on_completion", "return_url", "saved_payment_method_options",
    "shipping_address_collection", "tax_id_collection", "wallet_options",
}  # fmt: skip
# Real Stripe parameters that would change amounts or the kind of session; refused
# loudly rather than silently ignored.
_UNSUPPORTED = {"automatic_tax", "optional_items", "shipping_options"}
CREATE_PARAMS = _USED | _COSMETIC | _UNSUPPORTED
# Parameters of one mode only, refused in the other as Stripe refuses them.
_MODE_ONLY = {
    "customer_creation": {"payment"},
    "discounts": {"payment", "subscription"},
    "line_items": {"payment", "subscription"},
    "payment_intent_data": {"payment"},
    "setup_intent_data": {"setup"},
    "submit_type": {"payment"},
    "subscription_data": {"subscription"},
}

LIST_PARAMS = {
    "created", "customer", "customer_account", "customer_details", "ending_before", "expand",
    "limit", "payment_intent", "payment_link", "starting_after", "status", "subscription",
}  # fmt: skip
_PI_DATA_KEYS = {
    "application_fee_amount", "capture_method", "description", "metadata", "on_behalf_of",
    "receipt_email", "setup_future_usage", "shipping", "statement_descriptor",
    "statement_descriptor_suffix", "transfer_data", "transfer_group",
}  # fmt: skip

FUTURE_USAGES = {"off_session", "on_session"}
MIN_EXPIRY_SECONDS = 30 * 60
MAX_EXPIRY_SECONDS = 24 * 60 * 60


def _url(params: dict[str, Any], key: str) -> str | None:
    value = opt_str(params.get(key), key, max_length=5000)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid_param(key, f"Not a valid URL: {key}", "url_invalid")
    return value


def _payment_intent_data(raw: Any) -> dict[str, Any]:
    data = as_dict(raw, "payment_intent_data")
    reject_unknown(data, _PI_DATA_KEYS, "payment_intent_data")
    capture = data.get("capture_method")
    if capture not in (None, "", "automatic", "automatic_async"):
        raise invalid_param(
            "payment_intent_data[capture_method]", "The emulator supports only automatic capture."
        )
    p = "payment_intent_data"
    receipt = data.get("receipt_email")
    usage = data.get("setup_future_usage")
    return {
        # Save the paid card to the session's customer (see ``card_payments``).
        "setup_future_usage": as_enum(usage, f"{p}[setup_future_usage]", FUTURE_USAGES)
        if usage
        else None,
        "description": opt_str(data.get("description"), f"{p}[description]", max_length=1000),
        "metadata": as_metadata(data.get("metadata", {}), f"{p}[metadata]"),
        "receipt_email": as_email(receipt, f"{p}[receipt_email]") if receipt else None,
        "statement_descriptor": opt_str(
            data.get("statement_descriptor"), f"{p}[statement_descriptor]", max_length=22
        ),
        "statement_descriptor_suffix": opt_str(
            data.get("statement_descriptor_suffix"),
            f"{p}[statement_descriptor_suffix]",
            max_length=22,
        ),
    }


def _expires_at(params: dict[str, Any], now: int) -> int:
    if params.get("expires_at") in (None, ""):
        return now + MAX_EXPIRY_SECONDS
    expires_at = as_int(params["expires_at"], "expires_at")
    if expires_at - now < MIN_EXPIRY_SECONDS:
        raise invalid_param(
            "expires_at",
            "The `expires_at` timestamp must be at least 30 "
            "minutes from Checkout Session creation.",
        )
    if expires_at - now > MAX_EXPIRY_SECONDS:
        raise invalid_param(
            "expires_at",
            "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
        )
    return expires_at


def _refuse_unsupported(params: dict[str, Any], mode: str) -> None:
    for key in sorted(_UNSUPPORTED & params.keys()):
        if key == "automatic_tax" and not as_bool(
            as_dict(params[key], key).get("enabled", "false"), "automatic_tax[enabled]"
        ):
            continue
        raise invalid_param(key, f"The Stripe emulator does not support `{key}`.")
    for key, only_in in _MODE_ONLY.items():
        if params.get(key) not in (None, "") and mode not in only_in:
            raise invalid_param(key, f"You can not pass `{key}` in `{mode}` mode.")
    if params.get("discounts") not in (None, "", []) and mode == "subscription":
        # Stripe takes coupons on subscriptions too; the emulator's apply to payments only.
        raise invalid_param(
            "discounts", "The Stripe emulator supports discounts in payment mode only."
        )


@dataclass
class _Pricing:
    """What a session charges: its line items and the discount on them, if any."""

    currency: str | None
    items: list[StripeObject] = field(default_factory=list)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    total: int | None = None
    coupon: StripeObject | None = None
    discounts: list[int] = field(default_factory=list)
    # Created with the session: subscription mode's inline product and price.
    new_objects: list[StripeObject] = field(default_factory=list)


def _amounts(emu: Emulator, params: dict[str, Any], mode: str) -> _Pricing:
    """Payment and subscription modes: the line items, their currency and the total due now
    after any discount (zero is allowed: a 100 % discount needs no payment)."""
    sold = parse_line_items(emu, params.get("line_items"), mode)
    currency, items = sold.currency, sold.items
    assert currency is not None
    if params.get("currency") and as_str(params["currency"], "currency").lower() != currency:
        raise invalid_param("currency", "`currency` must match the currency of the line items.")
    coupon = discounts.coupon_for(emu, params, currency)
    subtotals = [i["amount_subtotal"] for i in items]
    amounts = discounts.discount_amounts(coupon, subtotals)
    total = sum(subtotals) - sum(amounts)
    minimum = MINIMUM_CHARGE.get(currency, 50)
    if 0 < total < minimum or (coupon is None and total < minimum):
        raise invalid_param(
            "line_items",
            "The Checkout Session's total amount due must add up "
            f"to at least {format_amount(minimum, currency)}",
        )
    if total > MAX_AMOUNT:
        raise invalid_param(
            "line_items",
            "The Checkout Session's total amount due must be at "
            f"most {format_amount(MAX_AMOUNT, currency)}",
        )
    return _Pricing(currency, items, sold.products, total, coupon, amounts, sold.new_objects)


def _setup_currency(params: dict[str, Any]) -> str | None:
    """Setup mode: no amounts; ``currency`` picks the methods unless they are listed."""
    currency = opt_str(params.get("currency"), "currency")
    if currency is None:
        if params.get("payment_method_types") in (None, ""):
            raise StripeError(
                "Missing required param: currency. Setup mode needs `currency` when "
                "`payment_method_types` is not given.",
                code="parameter_missing",
                param="currency",
            )
        return None
    if currency.lower() not in SUPPORTED:
        raise invalid_param("currency", f"Invalid currency: {currency}.")
    return currency.lower()


def create_session(emu: Emulator, params: dict[str, Any], ctx: RequestContext) -> StripeObject:
    reject_unknown(params, CREATE_PARAMS)
    mode = as_enum(require(params, "mode"), "mode", {"payment", "setup", "subscription"})
    _refuse_unsupported(params, mode)
    check_ui_mode(params)
    if mode == "setup":
        pricing = _Pricing(_setup_currency(params))
        method_types, allowed_types = setup_payment_method_types(params)
    else:
        pricing = _amounts(emu, params, mode)
        assert pricing.currency is not None
        method_types, allowed_types = session_payment_method_types(params, pricing.currency)
    items = pricing.items
    sub_data = subscription_data(params) if mode == "subscription" else None
    if mode == "subscription":
        # Subscriptions are paid by card here (a saved bank debit is not emulated).
        if "card" not in method_types:
            raise invalid_param("payment_method_types", "Subscriptions need `card` here.")
        method_types = ["card"]

    exclusive(params, "customer", "customer_email")
    customer_id = opt_str(params.get("customer"), "customer")
    if customer_id:
        get_customer(emu, customer_id, param="customer")
    email = params.get("customer_email")
    now = emu.now()
    phone = as_dict(params.get("phone_number_collection", {}), "phone_number_collection")
    promotion = params.get("allow_promotion_codes")
    session = build_session(
        created=now,
        expires_at=_expires_at(params, now),
        url="",
        currency=pricing.currency,
        amount_total=pricing.total,
        mode=mode,
        customer=customer_id,
        customer_email=as_email(email, "customer_email") if email else None,
        client_reference_id=opt_str(
            params.get("client_reference_id"), "client_reference_id", max_length=200
        ),
        success_url=_url(params, "success_url"),
        cancel_url=_url(params, "cancel_url"),
        metadata=as_metadata(params.get("metadata", {})),
        payment_method_types=method_types,
        allowed_payment_method_types=allowed_types,
        locale=opt_str(params.get("locale"), "locale"),
        submit_type=opt_str(params.get("submit_type"), "submit_type"),
        billing_address_collection=opt_str(
            params.get("billing_address_collection"), "billing_address_collection"
        ),
        allow_promotion_codes=as_bool(promotion, "allow_promotion_codes") if promotion else None,
        phone_number_collection=as_bool(
            phone.get("enabled", "false"), "phone_number_collection[enabled]"
        ),
        customer_creation=None
        if customer_id or mode != "payment"
        else (opt_str(params.get("customer_creation"), "customer_creation") or "if_required"),
    )
    session["url"] = f"{emu.config.base_url}/c/pay/{session['id']}"
    for obj in pricing.new_objects:
        emu.store.add(obj)
    emu.store.add(session)
    emu.store.line_items[session["id"]] = items
    for item in items:
        emu.store.add(item)
    emu.store.private[session["id"]] = {
        "payment_intent_data": _payment_intent_data(params.get("payment_intent_data", {})),
        "products": pricing.products,
        "subscription_data": sub_data,
        # Set while a bank debit is on its way ("settle" ends it).
        "awaiting_settlement": False,
    }
    if mode == "payment":
        discounts.apply(emu, session, items, pricing.coupon, pricing.discounts)
        if discounts.is_free(session):
            session["payment_status"] = "no_payment_required"
    elif mode == "setup":
        data = checkout_setup.setup_intent_data(params.get("setup_intent_data", {}))
        checkout_setup.create_setup_intent(emu, session, data, ctx)
    return session


def expire_due_sessions(emu: Emulator) -> int:
    """Expire every open session whose ``expires_at`` has passed (lazily, or by sweep)."""
    now = emu.now()
    due = [
        s for s in emu.store.sessions.values() if s["status"] == "open" and s["expires_at"] <= now
    ]
    for session in due:
        expire_session(emu, session, AUTOMATIC)
    return len(due)


def get_session(emu: Emulator, session_id: str, param: str | None = None) -> StripeObject:
    expire_due_sessions(emu)
    session = emu.store.sessions.get(session_id)
    if session is None:
        raise no_such("checkout.session", session_id, param=param)
    return session


def expire_session(emu: Emulator, session: StripeObject, ctx: RequestContext) -> StripeObject:
    if session["status"] != "open":
        raise StripeError(
            "Only Checkout Sessions with a status in ['open'] can be expired. This Checkout "
            f"Session has a status of {session['status']}."
        )
    session["status"] = "expired"
    session["url"] = None
    pi = emu.store.payment_intents.get(session["payment_intent"] or "")
    if pi is not None and pi["status"] == "requires_payment_method":
        # An abandoned attempt's PaymentIntent is cancelled along with its session.
        pi.update(status="canceled", canceled_at=emu.now(), cancellation_reason="abandoned")
        emu.emit("payment_intent.canceled", pi, ctx)
    checkout_setup.cancel_setup_intent(emu, session, ctx)
    emu.emit("checkout.session.expired", session, ctx)
    return session


def list_sessions(emu: Emulator, params: dict[str, Any]) -> list[StripeObject]:
    reject_unknown(params, LIST_PARAMS)
    expire_due_sessions(emu)
    created = created_matcher(params.get("created"))
    status = params.get("status")
    if status is not None:
        status = as_enum(status, "status", {"open", "complete", "expired"})
    details = as_dict(params.get("customer_details", {}), "customer_details")
    reject_unknown(details, {"email"}, "customer_details")
    wanted_email = details.get("email")

    def match(s: StripeObject) -> bool:
        email = (s["customer_details"] or {}).get("email")
        return (
            created(s["created"])
            and (status is None or s["status"] == status)
            and ("customer" not in params or s["customer"] == params["customer"])
            and ("payment_intent" not in params or s["payment_intent"] == params["payment_intent"])
            and ("payment_link" not in params or s["payment_link"] == params["payment_link"])
            and ("subscription" not in params or s["subscription"] == params["subscription"])
            and (wanted_email is None or email == wanted_email)
        )

    return [s for s in emu.store.sessions.values() if match(s)]


def product_of(emu: Emulator, session_id: str, line_item: StripeObject) -> dict[str, Any]:
    products = emu.store.private.get(session_id, {}).get("products", {})
    return products.get(line_item["price"]["product"], {})
