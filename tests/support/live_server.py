"""Run an ASGI app under uvicorn on a loopback port, in a background thread.

The emulator's ThreadedServer does exactly this (binding its socket before it starts, so no
other process can take the port in between); the app under test runs the same way.
"""

from __future__ import annotations

import socket
from typing import Any

import httpx
from starlette.types import ASGIApp

from stripe_emulator.testing import ThreadedServer as LiveServer

__all__ = ["LiveServed", "LiveServer", "free_port"]


def free_port() -> int:
    """A loopback port nobody listens on right now (for servers that need a port number)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServed:
    """An app served on loopback, with the same face as the fast tier's InProcessApp
    (`url`, `client()`, `async_client()`, `close()`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.server = LiveServer(app).start()
        self.url = self.server.url

    def client(self, **options: Any) -> httpx.Client:
        options.setdefault("timeout", 60)
        return httpx.Client(base_url=self.url, **options)

    def async_client(self, **options: Any) -> httpx.AsyncClient:
        options.setdefault("timeout", 60)
        return httpx.AsyncClient(base_url=self.url, **options)

    def close(self) -> None:
        self.server.stop()
