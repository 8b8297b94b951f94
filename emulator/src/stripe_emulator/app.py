"""The ASGI application: Stripe's API, the hosted page and the control API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from stripe_emulator import authentication, control, hosted, portal_pages
from stripe_emulator.api import build_router
from stripe_emulator.auth import StripeApiMiddleware
from stripe_emulator.config import EmulatorConfig
from stripe_emulator.core import Emulator
from stripe_emulator.errors import StripeError
from stripe_emulator.idempotency import IdempotencyMiddleware
from stripe_emulator.operations.checkout import expire_due_sessions
from stripe_emulator.operations.refunds import run_due_refunds
from stripe_emulator.operations.renewals import run_due_unclocked
from stripe_emulator.persistence import SaveAfterChanges
from stripe_emulator.responses import error_response, stripe_error_handler

log = logging.getLogger("stripe_emulator")


async def _validation_error(_request: Request, exc: Exception) -> Response:
    # Only the control API has typed query parameters; answer in Stripe's shape.
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    param = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
    return error_response(StripeError(f"Invalid parameter: {first.get('msg', exc)}", param=param))


async def _sweep(emulator: Emulator) -> None:
    # Stripe expires sessions and settles (or fails) refunds on its own schedule; so
    # do we, so that a receiver gets the events without anyone reading the objects.
    while True:
        await asyncio.sleep(emulator.config.expiry_sweep_interval)
        try:
            changed = expire_due_sessions(emulator)
            changed = run_due_refunds(emulator) or changed
            changed = run_due_unclocked(emulator) or changed
        except Exception:
            # One bad object must not stop time for all the others: say so, go on.
            log.exception("stripe emulator: the expiry/refund sweep failed; retrying")
            changed = True
        if changed:
            emulator.save()


def create_app(
    config: EmulatorConfig | None = None, *, emulator: Emulator | None = None
) -> FastAPI:
    """A fresh emulator app. ``app.state.emulator`` is its :class:`Emulator`.

    Mounted inside another app (whose lifespan does not run sub-apps' lifespans) it
    still works: sessions then expire lazily, whenever they are read or paid, and
    refunds change state when refunds or charges are read.
    """
    emu = emulator or Emulator(config)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        sweeper = asyncio.create_task(_sweep(emu))
        try:
            yield
        finally:
            sweeper.cancel()
            await emu.settle()
            await emu.webhooks.aclose()
            emu.save()

    app = FastAPI(
        title="Stripe emulator",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.emulator = emu
    app.include_router(build_router())
    app.include_router(hosted.router)
    app.include_router(authentication.router)
    app.include_router(portal_pages.router)
    app.include_router(control.router)
    app.add_exception_handler(StripeError, stripe_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error)
    # Starlette runs the last added middleware first: auth and the request id come
    # before idempotency, which needs both.
    app.add_middleware(IdempotencyMiddleware, cache=emu.idempotency)
    app.add_middleware(StripeApiMiddleware, config=emu.config)
    if emu.config.state_path is not None:  # outermost: saves once the request is done
        app.add_middleware(SaveAfterChanges, store=emu.store, path=emu.config.state_path)
    return app
