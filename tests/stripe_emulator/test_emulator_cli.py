"""The ``stripe-emulator`` command line."""

from __future__ import annotations

import pytest

from stripe_emulator.cli import build_parser, config_from_args, main


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
