"""Stripe's v1 REST API, one router per resource."""

from __future__ import annotations

from fastapi import APIRouter

from stripe_emulator.api import (
    charges,
    checkout,
    customers,
    disputes,
    events,
    fallback,
    payment_intents,
    refunds,
)


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v1")
    for module in (customers, checkout, payment_intents, charges, refunds, disputes, events):
        router.include_router(module.router)
    # Last: anything else under /v1 is Stripe's "Unrecognized request URL".
    router.include_router(fallback.router)
    return router
