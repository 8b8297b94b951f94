"""The client's address, for per-address limits.

Directly connected clients: the socket's peer. Behind a reverse proxy, TRUSTED_PROXY_HEADER
(e.g. X-Forwarded-For) is believed only when the peer is one of TRUSTED_PROXIES; the client is
then the right-most address in it that is not itself a trusted proxy (proxies append, so
anything further left may be written by the client and is ignored).
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Annotated

from fastapi import Depends, Request

from medgrader.config import Settings
from medgrader.core.deps import Ctx

UNKNOWN = "unknown"


def _parse(value: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(value.strip().strip("[]"))
    except ValueError:
        return None


def client_address(request: Request, settings: Settings) -> str:
    peer = request.client.host if request.client is not None else UNKNOWN
    header = settings.trusted_proxy_header
    if not header:
        return peer
    networks = settings.trusted_proxy_networks
    peer_ip = _parse(peer)
    if peer_ip is None or not any(peer_ip in network for network in networks):
        return peer  # not from our proxy: its header is whatever the client wrote
    values = ",".join(request.headers.getlist(header)).split(",")
    for raw in reversed(values):
        candidate = _parse(raw)
        if candidate is None:
            return peer  # garbage in the proxy chain: fall back to the proxy itself
        if not any(candidate in network for network in networks):
            return str(candidate)
    return peer


async def request_client_address(request: Request, ctx: Ctx) -> str:
    return client_address(request, ctx.settings)


ClientAddress = Annotated[str, Depends(request_client_address)]
