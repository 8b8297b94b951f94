"""Configuration of one emulator instance."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from stripe_emulator.ids import new_id, new_webhook_secret

if TYPE_CHECKING:
    import httpx

# The API version of stripe==16.1.0, the SDK this project pins.
DEFAULT_API_VERSION = "2026-10-28.endive"


@dataclass
class WebhookEndpoint:
    """Where events are POSTed, and the secret(s) they are signed with.

    ``secondary_secret`` models a secret roll: while set, every delivery carries a
    second ``v1=`` signature made with it, so receivers holding either secret verify.

    ``transport`` (an ``httpx.AsyncBaseTransport``, e.g. ``httpx.ASGITransport(app=...)``)
    delivers to ``url`` through it instead of the network: an app in the same process,
    no socket. Signing, retries, faults and the delivery log are the same either way.
    """

    url: str
    secret: str = field(default_factory=new_webhook_secret)
    secondary_secret: str | None = None
    enabled_events: list[str] = field(default_factory=lambda: ["*"])
    id: str = field(default_factory=lambda: new_id("we_"))
    transport: httpx.AsyncBaseTransport | None = field(default=None, repr=False, compare=False)

    def secrets(self) -> list[str]:
        return [s for s in (self.secret, self.secondary_secret) if s]

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "object": "webhook_endpoint",
            "url": self.url,
            "secret": self.secret,
            "secondary_secret": self.secondary_secret,
            "enabled_events": list(self.enabled_events),
        }


@dataclass
class EmulatorConfig:
    host: str = "127.0.0.1"
    # 0 asks the OS for a free port (what the in-process test server does).
    port: int = 12111
    # Base of the hosted checkout page URLs handed out in ``session.url``. Defaults to
    # http://host:port; set it when the emulator sits behind a proxy or is mounted.
    public_url: str | None = None
    webhook_endpoints: list[WebhookEndpoint] = field(default_factory=list)
    # Retry schedule: attempt n+1 waits retry_base_delay * 2**(n-1) after attempt n.
    retry_base_delay: float = 0.05
    max_attempts: int = 5
    # Seconds an endpoint may take to answer before the attempt counts as a timeout.
    delivery_timeout: float = 5.0
    # None accepts any ``sk_test_``/``rk_test_`` key; a list accepts only those keys.
    api_keys: list[str] | None = None
    api_version: str = DEFAULT_API_VERSION
    # How often open sessions past ``expires_at`` are swept (they also expire lazily).
    expiry_sweep_interval: float = 1.0
    # Seconds (emulator clock) until a pending bank-debit refund succeeds and until a
    # refund of a 4000 0000 0000 5126 charge fails. The same sweep acts on them.
    refund_delay: int = 60
    # A JSON file that keeps every object across restarts (see persistence); None: memory only.
    state_path: Path | None = None

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
