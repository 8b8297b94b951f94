"""Run an ASGI app under uvicorn on a loopback port, in a background thread.

The emulator's ThreadedServer does exactly this (binding its socket before it starts, so no
other process can take the port in between); the app under test runs the same way.
"""

from __future__ import annotations

import socket

from stripe_emulator.testing import ThreadedServer as LiveServer

__all__ = ["LiveServer", "free_port"]


def free_port() -> int:
    """A loopback port nobody listens on right now (for servers that need a port number)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
