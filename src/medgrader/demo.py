"""`medgrader demo`: the whole product on one machine with no keys and no configuration."""

from __future__ import annotations

import asyncio
import secrets
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel

from medgrader.auth import repository, service
from medgrader.auth.passwords import hash_password
from medgrader.catalog.service import seed_catalogue
from medgrader.config import Environment, Settings
from medgrader.db.resolve import Database
from medgrader.db.transactions import unit_of_work
from medgrader.runtime import open_context

DEMO_ADMIN = ("admin@demo.example.com", "demo-admin-password")
DEMO_STUDENT = ("student@demo.example.com", "demo-student-password")

console = Console()


def demo_settings(
    *, port: int, smtp_port: int, data_dir: Path, stripe_port: int = 12111
) -> Settings:
    return Settings(
        environment=Environment.DEVELOPMENT,
        data_dir=data_dir,
        jwt_secret=secrets.token_urlsafe(48),
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        dev_mailbox_dir=data_dir / "mailbox",
        # No separate frontend in the demo: Stripe returns the buyer to the app's own pages.
        frontend_url=f"http://127.0.0.1:{port}",
        # The Stripe emulator, with a fake test key and a signing secret made up for this run.
        stripe_secret_key=f"sk_test_demo_{secrets.token_hex(12)}",
        stripe_webhook_secret=f"whsec_demo_{secrets.token_hex(16)}",
        stripe_api_base=f"http://127.0.0.1:{stripe_port}",
        receipt_retry_base_seconds=2.0,
        # Example seller details: the demo's receipts are VAT invoices (an HMRC-shaped number,
        # not a real registration).
        seller_name="MedGrader Demo Ltd",
        seller_address="1 Example Street\nLondon\nEC1A 1AA\nUnited Kingdom",
        vat_number="GB999999973",
    )


def claim_ports(*, api: int, smtp: int, stripe: int, data_dir: Path) -> tuple[Any, Any]:
    """Bind the API's and the emulator's ports now, before anything starts (the SMTP sink's
    is probed: it binds its own when it starts, right after). Raises PortTaken."""
    from stripe_emulator.config import EmulatorConfig
    from stripe_emulator.server import bind_socket
    from stripe_emulator.testing import EmulatorServer

    claimed: list[Any] = []
    try:
        wanted = ((api, "API", "--port / PORT"), (smtp, "SMTP sink", "--smtp-port / SMTP_PORT"))
        for port, what, option in wanted:
            try:
                claimed.append(bind_socket("127.0.0.1", port))
            except OSError as exc:
                raise PortTaken(port, what, option) from exc
        claimed.pop().close()  # the SMTP probe: free now, the sink binds it in a moment
        config = EmulatorConfig(
            port=stripe,
            retry_base_delay=1.0,
            max_attempts=8,
            # The emulator's objects live next to the database's: a restarted demo still
            # knows the customers and sessions the database remembers.
            state_path=data_dir / "stripe-emulator.json",
        )
        try:
            emulator = EmulatorServer(config)
        except OSError as exc:
            raise PortTaken(stripe, "Stripe emulator", "--stripe-port / STRIPE_PORT") from exc
    except PortTaken:
        for sock in claimed:
            sock.close()
        raise
    return claimed[0], emulator


class PortTaken(Exception):
    def __init__(self, port: int, what: str, option: str) -> None:
        super().__init__(
            f"port {port} ({what}) is already in use on 127.0.0.1: stop what uses it or choose "
            f"another port with {option}"
        )


def connect_webhooks(emulator: Any, settings: Settings, app_url: str) -> None:
    assert settings.stripe_webhook_secret is not None
    emulator.add_endpoint(
        f"{app_url}/api/webhooks/stripe", secret=settings.stripe_webhook_secret.get_secret_value()
    )


async def ensure_demo_users(settings: Settings, database: Database) -> None:
    """The demo logins and the standard credit packages (both idempotent)."""
    async with open_context(settings, database) as ctx:
        async with unit_of_work(ctx.db_pool) as db:
            await seed_catalogue(db)
        async with unit_of_work(ctx.db_pool) as db:
            await service.create_admin(db, ctx, email=DEMO_ADMIN[0], password=DEMO_ADMIN[1])
        async with unit_of_work(ctx.db_pool) as db:
            if await repository.user_by_email(db, DEMO_STUDENT[0]) is None:
                await service.create_user(
                    db,
                    ctx,
                    email=DEMO_STUDENT[0],
                    password_hash=hash_password(DEMO_STUDENT[1], settings),
                    role="student",
                    first_name="Demo",
                    last_name="Student",
                )


def print_mail(message: EmailMessage) -> None:
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    console.print(
        Panel(text.strip(), title=f"mail to {message['To']}: {message['Subject']}", style="cyan")
    )


def run_demo(
    *, port: int, smtp_port: int, stripe_port: int = 12111, data_dir: Path = Path(".data")
) -> int:
    import uvicorn

    from medgrader.app import create_app
    from medgrader.core.logging import configure_logging
    from medgrader.db.migrate import upgrade_to_head
    from medgrader.db.resolve import resolve_database
    from medgrader.dev.mailbox import start_mail_sink
    from medgrader.security.headers import SERVER_OPTIONS

    configure_logging(json=False)
    try:
        api_socket, emulator = claim_ports(
            api=port, smtp=smtp_port, stripe=stripe_port, data_dir=data_dir
        )
    except PortTaken as exc:
        # An error, so standard error; one line whatever the terminal's width (no wrapping).
        print(f"medgrader demo: {exc}", file=sys.stderr)
        return 1
    settings = demo_settings(
        port=port, smtp_port=smtp_port, data_dir=data_dir, stripe_port=stripe_port
    )
    assert settings.dev_mailbox_dir is not None
    sink = None
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        sink = start_mail_sink(settings.dev_mailbox_dir, smtp_port, on_message=print_mail)
        console.print(
            f"[bold]Starting PostgreSQL (embedded, data in {data_dir.resolve()}) and "
            "migrating...[/bold]"
        )
        database = resolve_database(settings)
        upgrade_to_head(database.url)
        asyncio.run(ensure_demo_users(settings, database))
        base = f"http://127.0.0.1:{port}"
        emulator.start()
        connect_webhooks(emulator, settings, base)
        print_welcome(base, emulator.url, smtp_port, data_dir)
        config = uvicorn.Config(
            create_app(settings, database=database),
            log_level="info",
            timeout_graceful_shutdown=5,
            **SERVER_OPTIONS,
        )
        uvicorn.Server(config).run(sockets=[api_socket])
    finally:
        emulator.stop()
        if sink is not None:
            sink.stop()
        api_socket.close()
    return 0


def print_welcome(base: str, stripe_url: str, smtp_port: int, data_dir: Path) -> None:
    console.print(
        Panel.fit(
            f"Wallet        {base}/wallet  (students; or sign up)\n"
            f"Back office   {base}/admin  (admins)\n"
            f"Admin login   {DEMO_ADMIN[0]} / {DEMO_ADMIN[1]}\n"
            f"Student login {DEMO_STUDENT[0]} / {DEMO_STUDENT[1]}\n"
            f"API docs      {base}/docs\n"
            f"Demo mailbox  {base}/dev/mailbox  (SMTP on :{smtp_port})\n"
            f"Stripe        {stripe_url}  (the emulator)\n"
            f"Data          {data_dir.resolve()}\n"
            "Buy credits: open the wallet, press Buy and pay with 4242 4242 4242 4242\n"
            '  (4000 0000 0000 0002 is declined). See README, "Try it".\n'
            "Sign-up codes and receipts are printed here and kept in the mailbox.\n"
            "Ctrl+C stops everything.",
            title="MedGrader demo",
            style="green",
        )
    )
