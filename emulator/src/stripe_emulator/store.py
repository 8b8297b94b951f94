"""In-memory state of one emulator: every Stripe object, keyed by id.

Objects are stored as plain JSON-ready dicts in exactly the shape the API returns,
so responses are copies of them. Anything Stripe keeps but does not show on the
object (for example a session's ``payment_intent_data``) lives in ``private``.
All mutation happens on the emulator's single event loop, so no locks are needed.
"""

from __future__ import annotations

import copy
from typing import Any

from stripe_emulator.clock import Clock

StripeObject = dict[str, Any]

# Id prefix -> (collection attribute, the name Stripe uses in "No such <name>" errors).
_PREFIXES: dict[str, tuple[str, str]] = {
    "cus_": ("customers", "customer"),
    "cs_": ("sessions", "checkout.session"),
    "pi_": ("payment_intents", "payment_intent"),
    "ch_": ("charges", "charge"),
    "py_": ("charges", "charge"),
    "re_": ("refunds", "refund"),
    "du_": ("disputes", "dispute"),
    "dp_": ("disputes", "dispute"),
    "evt_": ("events", "event"),
    # Stripe names these two this way in its "No such ..." messages.
    "pm_": ("payment_methods", "PaymentMethod"),
    "seti_": ("setup_intents", "setupintent"),
    "li_": ("line_item_index", "item"),
    "prod_": ("products", "product"),
    "price_": ("prices", "price"),
    # Before "sub_", which would otherwise claim schedule ids.
    "sub_sched_": ("subscription_schedules", "subscription_schedule"),
    "sub_": ("subscriptions", "subscription"),
    "si_": ("subscription_items", "subscription_item"),
    "in_": ("invoices", "invoice"),
    "il_": ("invoice_lines", "invoice line item"),
    "inpay_": ("invoice_payments", "invoice_payment"),
    "clock_": ("test_clocks", "test_helpers.test_clock"),
    "bps_": ("portal_sessions", "billing_portal.session"),
}


class Store:
    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.reset()

    def reset(self) -> None:
        self.customers: dict[str, StripeObject] = {}
        self.sessions: dict[str, StripeObject] = {}
        # Session id -> its line items; ``line_item_index`` finds one by its own id.
        self.line_items: dict[str, list[StripeObject]] = {}
        self.line_item_index: dict[str, StripeObject] = {}
        self.payment_intents: dict[str, StripeObject] = {}
        self.charges: dict[str, StripeObject] = {}
        self.refunds: dict[str, StripeObject] = {}
        self.disputes: dict[str, StripeObject] = {}
        self.payment_methods: dict[str, StripeObject] = {}
        self.setup_intents: dict[str, StripeObject] = {}
        # Coupon ids are the integration's own codes (no prefix), so coupons are found by
        # their object type when added and by membership when looked up.
        self.coupons: dict[str, StripeObject] = {}
        self.events: dict[str, StripeObject] = {}
        # Billing: the catalogue, subscriptions, their invoices and test clocks.
        self.products: dict[str, StripeObject] = {}
        self.prices: dict[str, StripeObject] = {}
        self.subscriptions: dict[str, StripeObject] = {}
        self.subscription_items: dict[str, StripeObject] = {}
        self.subscription_schedules: dict[str, StripeObject] = {}
        self.invoices: dict[str, StripeObject] = {}
        self.invoice_lines: dict[str, StripeObject] = {}
        self.invoice_payments: dict[str, StripeObject] = {}
        self.test_clocks: dict[str, StripeObject] = {}
        self.portal_sessions: dict[str, StripeObject] = {}
        self.private: dict[str, dict[str, Any]] = {}
        # Creation order; list endpoints sort by it (newest first) and cursors use it,
        # because several objects are routinely created within the same second.
        self._order: dict[str, int] = {}
        self._counter = 0

    def now(self) -> int:
        return self.clock.now()

    def add(self, obj: StripeObject) -> StripeObject:
        is_coupon = obj.get("object") == "coupon"
        collection = self.coupons if is_coupon else self.collection_for(obj["id"])
        if collection is None:
            raise ValueError(f"no collection for id {obj['id']!r}")
        collection[obj["id"]] = obj
        self._counter += 1
        self._order[obj["id"]] = self._counter
        return obj

    def order(self, object_id: str) -> int | None:
        return self._order.get(object_id)

    def collection_for(self, object_id: str) -> dict[str, StripeObject] | None:
        if object_id in self.coupons:
            return self.coupons
        for prefix, (attribute, _) in _PREFIXES.items():
            if object_id.startswith(prefix):
                return getattr(self, attribute)
        return None

    def find(self, object_id: str) -> StripeObject | None:
        collection = self.collection_for(object_id)
        return collection.get(object_id) if collection is not None else None

    def kind_of(self, object_id: str) -> str:
        if object_id in self.coupons:
            return "coupon"
        for prefix, (_, kind) in _PREFIXES.items():
            if object_id.startswith(prefix):
                return kind
        return "object"

    @staticmethod
    def snapshot(obj: StripeObject) -> StripeObject:
        return copy.deepcopy(obj)
