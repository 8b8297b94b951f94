"""The delivery log: one entry per attempt to deliver an event to an endpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class DeliveryAttempt:
    id: str
    event_id: str
    event_type: str
    endpoint_id: str
    endpoint_url: str
    attempt: int
    ok: bool
    status_code: int | None
    error: str | None
    # Which injected fault shaped this attempt, if any: "drop_first", "timeout_first".
    fault: str | None
    duplicate: bool
    resend: bool
    started_at: float
    finished_at: float
    latency_ms: float
    # Seconds until the next attempt, or None when this was the last one.
    next_retry_in: float | None
    signature: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class DeliveryLog:
    def __init__(self) -> None:
        self.entries: list[DeliveryAttempt] = []

    def add(self, entry: DeliveryAttempt) -> None:
        self.entries.append(entry)

    def clear(self) -> None:
        self.entries.clear()

    def query(
        self,
        *,
        event_id: str | None = None,
        event_type: str | None = None,
        endpoint: str | None = None,
        ok: bool | None = None,
    ) -> list[DeliveryAttempt]:
        return [
            e
            for e in self.entries
            if (event_id is None or e.event_id == event_id)
            and (event_type is None or e.event_type == event_type)
            and (endpoint is None or endpoint in (e.endpoint_id, e.endpoint_url))
            and (ok is None or e.ok == ok)
        ]
