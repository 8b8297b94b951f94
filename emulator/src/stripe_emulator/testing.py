"""Running the emulator (or any ASGI app) in-process, for tests and demos.

    from stripe_emulator import WebhookEndpoint, start_emulator

    with start_emulator(webhook_endpoints=[WebhookEndpoint(url, secret)]) as emulator:
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": emulator.url})
        session = client.v1.checkout.sessions.create(params={...})
        emulator.pay(session.id)
        emulator.wait_for_deliveries()

The server runs uvicorn on a background thread with its own event loop, on a free
loopback port unless one is given; all emulator state lives on that loop. Talk to it
over HTTP (the SDK, the control methods inherited from
:class:`~stripe_emulator.client.EmulatorControl`); ``.emulator`` is there to *read*
state in assertions, not to change it from another thread.

:class:`InProcessEmulator` (from :mod:`stripe_emulator.inprocess`) is the same emulator
with no server at all: on the caller's event loop, reached through
``httpx.ASGITransport``, for tests that must open no socket.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import replace
from types import TracebackType
from typing import Any, Self

import uvicorn
from starlette.types import ASGIApp

from stripe_emulator.app import create_app
from stripe_emulator.client import EmulatorControl
from stripe_emulator.config import EmulatorConfig
from stripe_emulator.core import Emulator
from stripe_emulator.inprocess import InProcessEmulator
from stripe_emulator.server import bind_socket

__all__ = ["EmulatorServer", "InProcessEmulator", "ThreadedServer", "start_emulator"]


class ThreadedServer:
    """An ASGI app served by uvicorn on a daemon thread, started and stopped cleanly."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        sock: socket.socket | None = None,
        log_level: str = "warning",
    ) -> None:
        self.app = app
        self.host = host
        self._sock = sock or bind_socket(host, port)
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level=log_level,
            lifespan="on",
            timeout_graceful_shutdown=2,
            server_header=False,  # as the product is served (medgrader.security.headers)
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._sock]))
        except BaseException as exc:  # reported to the starting thread
            self._error = exc

    def start(self, timeout: float = 10.0) -> Self:
        if self._thread is not None:
            return self  # already running (``with start_emulator() as e`` starts twice)
        self._thread = threading.Thread(target=self._run, name=f"asgi:{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server on port {self.port} failed to start: {self._error!r}")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class EmulatorServer(EmulatorControl):
    """A running emulator: ``.url`` for the SDK, control methods, ``stop()``."""

    def __init__(self, config: EmulatorConfig | None = None, **overrides: Any) -> None:
        config = replace(config or EmulatorConfig(port=0), **overrides)
        self._sock = bind_socket(config.host, config.port)
        # With port 0 the real port is only known now; hosted page URLs need it.
        config.port = self._sock.getsockname()[1]
        self.config = config
        self.emulator = Emulator(config)
        self.app = create_app(emulator=self.emulator)
        self._server = ThreadedServer(self.app, host=config.host, sock=self._sock)
        super().__init__(self.local_url)

    @property
    def local_url(self) -> str:
        return f"http://{self.config.host}:{self.config.port}"

    @property
    def url(self) -> str:
        """The API base to give the SDK: ``base_addresses={"api": server.url}``."""
        return self.local_url

    @property
    def control(self) -> EmulatorControl:
        return self

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()
        self.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_emulator(config: EmulatorConfig | None = None, **overrides: Any) -> EmulatorServer:
    """Start an emulator on a free loopback port (unless ``config.port`` says otherwise)."""
    if config is None:
        overrides.setdefault("port", 0)
    return EmulatorServer(config, **overrides).start()
