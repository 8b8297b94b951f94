"""The demo's mailbox: an SMTP sink that keeps every message, and a page that shows them."""

from __future__ import annotations

import email
import email.policy
import mailbox
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape


class MaildirHandler:
    """aiosmtpd handler: append each message to a Maildir and, optionally, report it."""

    def __init__(self, directory: Path, on_message: Any = None) -> None:
        self.maildir = mailbox.Maildir(directory, create=True)
        self.on_message = on_message

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.maildir.add(envelope.original_content)
        if self.on_message is not None:
            parsed = email.message_from_bytes(
                envelope.original_content, policy=email.policy.default
            )
            self.on_message(parsed)
        return "250 Message accepted for delivery"


def start_mail_sink(directory: Path, port: int, on_message: Any = None) -> Controller:
    controller = Controller(MaildirHandler(directory, on_message), hostname="127.0.0.1", port=port)
    controller.start()
    return controller


@dataclass(frozen=True)
class StoredMessage:
    key: str
    date: float
    to: str
    subject: str
    text: str


def read_messages(directory: Path, limit: int = 50) -> list[StoredMessage]:
    box = mailbox.Maildir(directory, create=True)
    found: list[StoredMessage] = []
    for key, raw in box.items():
        parsed = email.message_from_bytes(raw.as_bytes(), policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        body = parsed.get_body(preferencelist=("plain",))
        found.append(
            StoredMessage(
                key=key,
                date=raw.get_date(),
                to=str(parsed["To"]),
                subject=str(parsed["Subject"]),
                text=body.get_content() if body is not None else "",
            )
        )
    found.sort(key=lambda m: m.date, reverse=True)
    return found[:limit]


def mailbox_router(directory: Path) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    templates = Environment(
        loader=PackageLoader("medgrader.dev", "templates"), autoescape=select_autoescape()
    )

    @router.get("/dev/mailbox", response_class=HTMLResponse)
    async def show_mailbox(request: Request) -> HTMLResponse:
        page = templates.get_template("mailbox.html").render(messages=read_messages(directory))
        return HTMLResponse(page)

    return router
