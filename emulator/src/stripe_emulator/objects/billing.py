"""The ``test_helpers.test_clock`` and ``billing_portal.session`` objects."""

from __future__ import annotations

from typing import Any

from stripe_emulator.ids import new_id, random_chars

# Stripe deletes a test clock (and every object on it) seven days after creating it.
CLOCK_LIFETIME = 7 * 24 * 3600


def build_test_clock(*, created: int, frozen_time: int, name: str | None) -> dict[str, Any]:
    return {
        "id": new_id("clock_"),
        "object": "test_helpers.test_clock",
        "created": created,
        "deletes_after": created + CLOCK_LIFETIME,
        "frozen_time": frozen_time,
        "livemode": False,
        "name": name,
        "status": "ready",
        "status_details": {},
    }


def build_portal_session(
    *,
    created: int,
    customer: str,
    configuration: str,
    return_url: str | None,
    locale: str | None,
    base_url: str,
) -> dict[str, Any]:
    return {
        "id": new_id("bps_"),
        "object": "billing_portal.session",
        "configuration": configuration,
        "created": created,
        "customer": customer,
        "customer_account": None,
        "flow": None,
        "livemode": False,
        "locale": locale,
        "on_behalf_of": None,
        "return_url": return_url,
        # The secret in the URL is the customer's key to the portal, as on Stripe.
        "url": f"{base_url}/p/session/test_{random_chars(40)}",
    }
