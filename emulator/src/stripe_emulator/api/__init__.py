"""Stripe's v1 REST API, one router per resource."""

from __future__ import annotations

from fastapi import APIRouter

from stripe_emulator.api import (
    billing_portal,
    charges,
    checkout,
    coupons,
    customers,
    disputes,
    events,
    fallback,
    invoices,
    payment_intents,
    payment_methods,
    products,
    refunds,
    setup_intents,
    subscription_schedules,
    subscriptions,
    test_clocks,
)


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v1")
    modules = (customers, payment_methods, checkout, coupons, payment_intents, setup_intents,
               charges, refunds, disputes, events)  # fmt: skip
    for module in modules:
        router.include_router(module.router)
    billing = (products, subscriptions, subscription_schedules, invoices, test_clocks)
    for module in (*billing, billing_portal):
        router.include_router(module.router)
    # Last: anything else under /v1 is Stripe's "Unrecognized request URL".
    router.include_router(fallback.router)
    return router
