"""A local Stripe for development, demos and tests (dev/test tooling only).

The official ``stripe`` SDK runs unchanged against it: point ``base_addresses``
``{"api": ...}`` at the emulator. It speaks the slice of Stripe's v1 API this
project uses (customers, Checkout Sessions, PaymentIntents, charges, refunds,
disputes, events; products, prices, subscriptions, invoices, test clocks, Billing Portal
sessions), serves hosted checkout, portal and invoice pages, and delivers signed webhooks
with retries and injectable faults. See ``README.md`` in
this distribution for the routes; :mod:`stripe_emulator.control` documents the
``/_emulator/`` control API.

Production code must never import this package.

Public entry points:

- :class:`EmulatorConfig`, :class:`WebhookEndpoint` - configuration;
- :func:`create_app` - the ASGI app (mount it or serve it yourself);
- :func:`start_emulator` / :class:`EmulatorServer` - run it on a background thread;
- :class:`InProcessEmulator` - run it on the caller's event loop, no socket (the SDK,
  the control API and webhooks all through ``httpx.ASGITransport``);
- :class:`EmulatorControl`, :class:`AsyncEmulatorControl` - control-API clients;
- ``stripe-emulator`` (:func:`stripe_emulator.cli.main`) - the command line.
"""

from stripe_emulator.app import create_app
from stripe_emulator.client import AsyncEmulatorControl, EmulatorControl, EmulatorError
from stripe_emulator.config import DEFAULT_API_VERSION, EmulatorConfig, WebhookEndpoint
from stripe_emulator.core import Emulator
from stripe_emulator.testing import (
    EmulatorServer,
    InProcessEmulator,
    ThreadedServer,
    start_emulator,
)

__all__ = [
    "DEFAULT_API_VERSION",
    "AsyncEmulatorControl",
    "Emulator",
    "EmulatorConfig",
    "EmulatorControl",
    "EmulatorError",
    "EmulatorServer",
    "InProcessEmulator",
    "ThreadedServer",
    "WebhookEndpoint",
    "create_app",
    "start_emulator",
]
