"""The Google certificate cache: kept as Cache-Control allows, refetched when stale, one fetch
for concurrent callers, and a stale copy kept when Google cannot be reached."""

from __future__ import annotations

import asyncio

import pytest

from medgrader.core.adapters.google_certs import (
    GoogleCertificates,
    GoogleUnavailable,
    cache_lifetime,
)
from tests.support.google import GoogleIssuer


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"cache-control": "public, max-age=19977, must-revalidate, no-transform"}, 19977),
        ({"cache-control": "public, max-age=600", "age": "100"}, 500),
        ({"cache-control": "max-age=600", "age": "900"}, 0),
        ({"cache-control": "no-cache, max-age=600"}, 0),
        ({"cache-control": "no-store"}, 0),
        ({}, 0),
        ({"cache-control": "max-age=999999999"}, 86400),
    ],
)
def test_cache_lifetime_follows_cache_control(headers: dict[str, str], seconds: int) -> None:
    assert cache_lifetime(headers) == seconds


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_certificates_are_reused_until_max_age_then_refetched() -> None:
    issuer = GoogleIssuer(max_age=60).start()
    clock = FakeClock()
    try:
        certs = GoogleCertificates(issuer.url, clock=clock)
        first = await certs.get()
        assert first == issuer.certs
        clock.now += 59
        await certs.get()
        assert issuer.hits == 1
        clock.now += 2
        await certs.get()
        assert issuer.hits == 2
    finally:
        issuer.stop()


async def test_concurrent_callers_on_a_cold_cache_share_one_fetch() -> None:
    issuer = GoogleIssuer().start()
    try:
        certs = GoogleCertificates(issuer.url)
        results = await asyncio.gather(*(certs.get() for _ in range(20)))
        assert all(r == issuer.certs for r in results)
        assert issuer.hits == 1
    finally:
        issuer.stop()


async def test_a_failed_refresh_keeps_the_stale_copy_and_a_cold_failure_is_503() -> None:
    issuer = GoogleIssuer(max_age=0).start()
    url = issuer.url
    certs = GoogleCertificates(url, timeout=2)
    assert await certs.get() == issuer.certs
    issuer.stop()  # Google unreachable from now on
    assert await certs.get() == issuer.certs
    with pytest.raises(GoogleUnavailable):
        await GoogleCertificates(url, timeout=2).get()
