"""An unhandled error is logged once, with its request id, and answered with the usual 500.

Before: our handler logged it, then Starlette re-raised it to uvicorn, which logged the same
traceback again ("Exception in ASGI application") without the request id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from structlog.testing import capture_logs

from medgrader.core.errors import install_error_handlers
from tests.support.live_server import LiveServer


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.e2e  # what uvicorn itself logs: a real server
def test_an_unhandled_error_is_logged_once_with_its_request_id() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("SELECT secret FROM internals")

    server_log = _Records()
    uvicorn_error = logging.getLogger("uvicorn.error")
    uvicorn_error.addHandler(server_log)
    server = LiveServer(app).start()
    try:
        with capture_logs() as logs:
            response = httpx.get(
                f"{server.url}/boom", headers={"X-Request-ID": "req-test-0001"}, timeout=10
            )
            fresh = httpx.get(f"{server.url}/boom", timeout=10)
    finally:
        server.stop()
        uvicorn_error.removeHandler(server_log)
    assert response.status_code == 500
    assert response.json() == {"error": "Internal server error.", "code": "internal_error"}
    assert "SELECT" not in response.text
    assert response.headers["x-request-id"] == "req-test-0001"
    generated = fresh.headers["x-request-id"]
    assert len(generated) >= 16
    assert generated != "req-test-0001"

    errors = [line for line in logs if line["log_level"] in ("error", "critical")]
    assert [line["request_id"] for line in errors] == ["req-test-0001", generated]
    assert all(line["event"] == "unhandled error" and line["exc_info"] for line in errors)
    assert not [r for r in server_log.records if r.levelno >= logging.ERROR], [
        r.getMessage() for r in server_log.records
    ]


def test_a_request_id_that_is_not_sane_is_replaced(serve: Callable[[Any], Any]) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/ok")
    async def ok() -> dict[str, str]:
        return {"status": "ok"}

    with serve(app).client() as http:
        response = http.get("/ok", headers={"X-Request-ID": "bad id with spaces"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] != "bad id with spaces"
