"""What every `medgrader` command shares: its consoles and how it reads its Settings."""

from __future__ import annotations

import typer
from rich.console import Console

from medgrader.config import ConfigurationError, Settings

console = Console()
err_console = Console(stderr=True)


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ConfigurationError as exc:
        err_console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc
