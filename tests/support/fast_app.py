"""The fast tier's app: in-process, no socket, no worker, with the Stripe emulator in-process.

One per pytest process, on a LoopThread of its own, on that process's fast database:
- the test talks to the app through `client()` (an httpx.Client whose transport runs the
  request through the ASGI app on the loop) or `async_client()`;
- the app's Stripe SDK reaches the emulator through an injected HTTP client
  (`stripe_http_client=`), and the emulator delivers webhooks to the app's ASGI app, signed;
- mail goes to a Mailbox (MemoryMailer); jobs run when the test (or the mailbox) asks
  (`run_jobs()`), not on a background worker;
- `services` runs the product's services on the app's own context and loop.
Between tests the fixtures wipe the database and reset the emulator and the mailbox (see
tests/conftest.py `fast_state`).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
from fastapi import FastAPI

from medgrader.app import create_app
from medgrader.config import Settings
from medgrader.core.context import AppContext
from medgrader.db.resolve import Database
from stripe_emulator.testing import InProcessEmulator
from tests.support.asgi import AsyncLoopTransport, LoopTransport
from tests.support.jobs import run_jobs_until_idle
from tests.support.loop import LoopThread
from tests.support.mailbox import Mailbox, MemoryMailer
from tests.support.services import ServiceRunner
from tests.support.stripe_in_process import InProcessStripe

# Nothing listens here (.test is reserved): the app is reached through its transport only.
APP_URL = "http://app.test"


class InProcessApp:
    """An ASGI app whose lifespan runs on `loop`, reached through its transport (no socket).
    The product's app (create_app) sends its mail to `mailbox`."""

    def __init__(self, app: FastAPI, loop: LoopThread, mailbox: Mailbox) -> None:
        self.app = app
        self.loop = loop
        self.url = APP_URL
        self._lifespan: AbstractAsyncContextManager[Any] = app.router.lifespan_context(app)
        loop.run(self._lifespan.__aenter__())
        self.ctx: AppContext | None = getattr(app.state, "context", None)
        if self.ctx is not None:
            self.ctx.mailer = MemoryMailer(self.ctx.settings, mailbox)

    def client(self, **options: Any) -> httpx.Client:
        options.setdefault("timeout", 60)
        return httpx.Client(
            transport=LoopTransport(self.app, self.loop), base_url=APP_URL, **options
        )

    def async_client(self, **options: Any) -> httpx.AsyncClient:
        options.setdefault("timeout", 60)
        return httpx.AsyncClient(
            transport=AsyncLoopTransport(self.app, self.loop), base_url=APP_URL, **options
        )

    def close(self) -> None:
        self.loop.run(self._lifespan.__aexit__(None, None, None), 30)


class FastApp(InProcessApp):
    def __init__(
        self,
        settings: Settings,
        database: Database,
        mailbox: Mailbox,
        *,
        webhook_path: str,
        webhook_secret: str,
    ) -> None:
        loop = LoopThread("fast-app")
        self.database = database
        self.mailbox = mailbox
        self._emulator = InProcessEmulator()
        loop.run(self._emulator.start())
        self.settings = settings.model_copy(
            update={"stripe_api_base": self._emulator.url, "run_worker_in_process": False}
        )
        super().__init__(self.stripe_app(self.settings), loop, mailbox)
        assert self.ctx is not None
        self.services = ServiceRunner.attached(self.loop, self.ctx)
        mailbox.drain = self.run_jobs
        self.stripe = InProcessStripe(self._emulator, self.loop)
        self.stripe.attach_app(f"{APP_URL}{webhook_path}", webhook_secret, self.app)

    def stripe_app(self, settings: Settings) -> FastAPI:
        """create_app on this database, its Stripe SDK reaching this emulator."""
        return create_app(
            settings, database=self.database, stripe_http_client=self._emulator.sdk_http_client()
        )

    def serve(self, app: FastAPI) -> InProcessApp:
        """Run another app on this loop (the caller closes it)."""
        return InProcessApp(app, self.loop, self.mailbox)

    def sibling(self, **changes: Any) -> InProcessApp:
        """Another app on the same loop, database, emulator and mailbox, with other settings
        (e.g. strict rate limits); the caller closes it. Webhooks still go to this one."""
        return self.serve(self.stripe_app(self.settings.model_copy(update=changes)))

    def run_jobs(self) -> None:
        """Run the job queue until no job is due (receipts, notices...)."""
        assert self.ctx is not None
        self.loop.run(run_jobs_until_idle(self.ctx))

    def reset(self) -> None:
        """Between tests: the emulator forgets everything, the mailbox is emptied."""
        self.stripe.reset()
        self.mailbox.clear()

    def close(self) -> None:
        self.stripe.close()
        super().close()
        self.loop.run(self._emulator.stop(), 30)
        self.loop.close()
