"""What /health and /metrics read of an in-process job worker (medgrader.jobs.worker's
WorkerSupervisor has it): described here so that these core routes import no job runtime."""

from __future__ import annotations

from typing import Protocol


class WorkerHealth(Protocol):
    restarts: int
    last_error: str | None

    def seconds_since_beat(self) -> float: ...
