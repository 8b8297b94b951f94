"""Serving the emulator with uvicorn: blocking (the CLI), or as a coroutine."""

from __future__ import annotations

import socket

import uvicorn

from stripe_emulator.app import create_app
from stripe_emulator.config import EmulatorConfig


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free one (read it back from the socket)."""
    # proto=IPPROTO_TCP matters: asyncio only disables Nagle's algorithm on accepted
    # sockets whose proto says TCP, and without that every response waits ~40 ms for
    # a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def build_server(config: EmulatorConfig, log_level: str = "warning") -> uvicorn.Server:
    app = create_app(config)
    uv_config = uvicorn.Config(
        app, host=config.host, port=config.port, log_level=log_level, lifespan="on"
    )
    return uvicorn.Server(uv_config)


async def serve(config: EmulatorConfig, log_level: str = "warning") -> None:
    """Run the emulator in the current event loop until cancelled."""
    await build_server(config, log_level).serve()


def run(config: EmulatorConfig, log_level: str = "info") -> None:
    """Run the emulator in the foreground (what the CLI does)."""
    build_server(config, log_level).run()
