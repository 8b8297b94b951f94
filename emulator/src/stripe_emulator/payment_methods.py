"""Which payment methods and page a Checkout Session offers (API 2026-10-28 names).

Not to be confused with ``operations.payment_methods``: the PaymentMethod objects.
"""

from __future__ import annotations

from typing import Any

from stripe_emulator.errors import invalid_param
from stripe_emulator.params import as_enum, as_list, as_str, exclusive

# The delayed-notification bank debit offered on the hosted page ("bank transfer"),
# by currency: it completes the session unpaid and settles later.
_DELAYED_METHODS = {"gbp": "bacs_debit", "eur": "sepa_debit", "usd": "us_bank_account"}
PAYMENT_METHOD_TYPES = {"card", "link", *_DELAYED_METHODS.values()}
# ``ui_mode`` values of API 2026-10-28; only Stripe's own hosted page is emulated.
# "hosted" is the name older API versions used for it.
UI_MODES = {"elements", "embedded_page", "form", "hosted_page"}
HOSTED_UI_MODES = {"hosted_page", "hosted"}


def delayed_method_for(currency: str) -> str:
    return _DELAYED_METHODS.get(currency, "bacs_debit")


def check_ui_mode(params: dict[str, Any]) -> None:
    """Accept Stripe's hosted page under either name; refuse the others clearly."""
    if params.get("ui_mode") in (None, ""):
        return
    ui_mode = as_enum(params["ui_mode"], "ui_mode", UI_MODES | HOSTED_UI_MODES)
    if ui_mode not in HOSTED_UI_MODES:
        raise invalid_param("ui_mode", "The Stripe emulator supports only ui_mode=hosted_page.")


def session_payment_method_types(
    params: dict[str, Any], currency: str
) -> tuple[list[str], list[str] | None]:
    """``payment_method_types`` and the ``allowed_payment_method_types`` filter.

    Without an explicit list Stripe offers what is eligible (here: card and the
    currency's bank debit), narrowed to ``allowed_payment_method_types`` if given.
    """
    exclusive(params, "payment_method_types", "allowed_payment_method_types")
    if "payment_method_types" in params:
        key = "payment_method_types"
        types = [
            as_enum(v, f"{key}[{i}]", PAYMENT_METHOD_TYPES)
            for i, v in enumerate(as_list(params[key], key))
        ]
        return types or ["card"], None
    eligible = ["card", delayed_method_for(currency)]
    if "allowed_payment_method_types" not in params:
        return eligible, None
    # A filter: types the emulator does not offer are accepted and simply not offered.
    key = "allowed_payment_method_types"
    allowed = [as_str(v, f"{key}[{i}]") for i, v in enumerate(as_list(params[key], key))]
    offered = [t for t in eligible if t in allowed]
    if not offered:
        raise invalid_param(
            "allowed_payment_method_types",
            f"None of the allowed payment method types is available for {currency.upper()} "
            f"payments (available: {', '.join(eligible)}).",
        )
    return offered, allowed


def setup_payment_method_types(params: dict[str, Any]) -> tuple[list[str], list[str] | None]:
    """Setup mode saves cards only here (a bank debit would need a mandate flow)."""
    exclusive(params, "payment_method_types", "allowed_payment_method_types")
    for key in ("payment_method_types", "allowed_payment_method_types"):
        if key not in params:
            continue
        types = [as_str(v, f"{key}[{i}]") for i, v in enumerate(as_list(params[key], key))]
        if key == "payment_method_types" and any(t != "card" for t in types):
            raise invalid_param(key, "The Stripe emulator supports only card in setup mode.")
        if key == "allowed_payment_method_types":
            if "card" not in types:
                raise invalid_param(key, "The Stripe emulator supports only card in setup mode.")
            return ["card"], types
    return ["card"], None
