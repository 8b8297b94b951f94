"""``stripe-emulator``: run the emulator in the foreground.

    stripe-emulator --port 12111 --webhook-url http://127.0.0.1:8000/api/webhooks/stripe \\
        --webhook-secret whsec_...

Several ``--webhook-url`` may be given; they share the secret(s). Without
``--webhook-secret`` one is generated and printed.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from stripe_emulator.config import DEFAULT_API_VERSION, EmulatorConfig, WebhookEndpoint
from stripe_emulator.ids import new_webhook_secret


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stripe-emulator",
        description="A local Stripe for development and tests: the official SDK runs "
        "unchanged against it.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument(
        "--public-url", help="base of hosted checkout URLs (default http://host:port)"
    )
    parser.add_argument(
        "--webhook-url",
        action="append",
        default=[],
        metavar="URL",
        help="deliver events here (repeatable)",
    )
    parser.add_argument("--webhook-secret", help="signing secret (whsec_...)")
    parser.add_argument("--webhook-secondary-secret", help="second signing secret (secret roll)")
    parser.add_argument("--retry-base-delay", type=float, default=0.05, metavar="SECONDS")
    parser.add_argument("--max-attempts", type=int, default=5)
    parser.add_argument("--delivery-timeout", type=float, default=5.0, metavar="SECONDS")
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="accept only these keys (default: any sk_test_ key)",
    )
    parser.add_argument("--api-version", default=DEFAULT_API_VERSION)
    parser.add_argument(
        "--refund-delay",
        type=int,
        default=60,
        metavar="SECONDS",
        help="until a bank-debit refund succeeds or a 4000000000005126 refund fails",
    )
    parser.add_argument("--log-level", default="info")
    parser.add_argument(
        "--state-file", type=Path, metavar="PATH", help="keep every object here across restarts"
    )
    return parser


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    secret = args.webhook_secret or new_webhook_secret()
    endpoints = [
        WebhookEndpoint(url=url, secret=secret, secondary_secret=args.webhook_secondary_secret)
        for url in args.webhook_url
    ]
    return EmulatorConfig(
        host=args.host,
        port=args.port,
        public_url=args.public_url,
        webhook_endpoints=endpoints,
        retry_base_delay=args.retry_base_delay,
        max_attempts=args.max_attempts,
        delivery_timeout=args.delivery_timeout,
        api_keys=args.api_keys,
        api_version=args.api_version,
        refund_delay=args.refund_delay,
        state_path=args.state_file,
    )


def main(argv: Sequence[str] | None = None) -> None:
    from stripe_emulator.server import run  # uvicorn only when actually serving

    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    print(
        f"Stripe emulator on {config.base_url}  (API base for the SDK, control API at /_emulator/)"
    )
    for endpoint in config.webhook_endpoints:
        print(f"  webhooks -> {endpoint.url}  secret {endpoint.secret}")
    run(config, log_level=args.log_level)


if __name__ == "__main__":
    main()
