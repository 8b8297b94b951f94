"""The ``stripe-emulator`` command line."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from stripe_emulator.cli import build_parser, config_from_args, main
from stripe_emulator.server import bind_socket


def test_options_become_a_config() -> None:
    args = build_parser().parse_args(
        [
            "--port", "12999",
            "--webhook-url", "http://127.0.0.1:8000/a",
            "--webhook-url", "http://127.0.0.1:8000/b",
            "--webhook-secret", "whsec_abc",
            "--webhook-secondary-secret", "whsec_old",
            "--retry-base-delay", "0.5",
            "--max-attempts", "3",
            "--public-url", "http://localhost:12999/",
        ]
    )  # fmt: skip
    config = config_from_args(args)
    assert config.port == 12999
    assert [e.url for e in config.webhook_endpoints] == [
        "http://127.0.0.1:8000/a",
        "http://127.0.0.1:8000/b",
    ]
    assert {e.secret for e in config.webhook_endpoints} == {"whsec_abc"}
    assert {e.secondary_secret for e in config.webhook_endpoints} == {"whsec_old"}
    assert (config.retry_base_delay, config.max_attempts) == (0.5, 3)
    assert config.base_url == "http://localhost:12999"


def test_a_secret_is_generated_when_none_is_given() -> None:
    config = config_from_args(build_parser().parse_args(["--webhook-url", "http://x.test/h"]))
    assert config.webhook_endpoints[0].secret.startswith("whsec_")


def test_help_exits_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    assert "--webhook-url" in capsys.readouterr().out


def test_the_command_serves_the_api() -> None:
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stripe_emulator.cli",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/_emulator/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "the emulator did not start"
            time.sleep(0.05)
        response = httpx.post(
            f"{url}/v1/customers", data={"email": "cli@example.com"}, auth=("sk_test_cli", "")
        )
        assert response.json()["email"] == "cli@example.com"
    finally:
        process.terminate()
        process.wait(timeout=10)
