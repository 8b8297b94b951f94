"""Google's ID-token signing certificates, fetched from GOOGLE_CERTS_URL and kept as long as
their Cache-Control allows, so a sign-in normally costs no request to Google; concurrent
sign-ins on a cold cache share one fetch."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping

import httpx
import structlog

from medgrader.core.errors import ServiceUnavailable

log = structlog.get_logger(__name__)

# Never trust a cache lifetime longer than a day, whatever a (misconfigured) server says.
MAX_CACHE_SECONDS = 24 * 3600
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?", re.IGNORECASE)


class GoogleUnavailable(ServiceUnavailable):
    code, message = "google_unavailable", "Google's certificates could not be fetched; try again."


def cache_lifetime(headers: Mapping[str, str]) -> float:
    """Seconds a response may be reused according to its Cache-Control (and Age) headers."""
    cache_control = headers.get("cache-control", "")
    if re.search(r"no-store|no-cache", cache_control, re.IGNORECASE):
        return 0.0
    match = _MAX_AGE.search(cache_control)
    if match is None:
        return 0.0
    age = headers.get("age", "0")
    lifetime = int(match.group(1)) - (int(age) if age.isdigit() else 0)
    return float(min(max(lifetime, 0), MAX_CACHE_SECONDS))


class GoogleCertificates:
    """Google's signing certificates ({key id: PEM}), fetched when the cached copy is stale."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._clock = clock
        self._certs: dict[str, str] | None = None
        self._fresh_until = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0  # for operators and tests: how many times Google was asked

    async def get(self) -> dict[str, str]:
        if self._certs is not None and self._clock() < self._fresh_until:
            return self._certs
        async with self._lock:  # one fetch for all the sign-ins waiting on a stale cache
            if self._certs is not None and self._clock() < self._fresh_until:
                return self._certs
            try:
                certs, lifetime = await self._fetch()
            except (httpx.HTTPError, ValueError) as exc:
                if self._certs is not None:
                    # Google's keys rotate slowly: a stale copy beats refusing every sign-in.
                    log.warning("google certificates refresh failed; using the cached copy")
                    return self._certs
                raise GoogleUnavailable() from exc
            self._certs, self._fresh_until = certs, self._clock() + lifetime
            return certs

    async def _fetch(self) -> tuple[dict[str, str], float]:
        self.fetches += 1
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            response = await client.get(self.url)
        response.raise_for_status()
        body = response.json()
        if not isinstance(body, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in body.items()
        ):
            raise ValueError("certificates are not a {key id: PEM} object")
        return body, cache_lifetime(response.headers)
