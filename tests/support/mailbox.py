"""The mail the app sends, kept for assertions.

End-to-end: `Mailbox.start()` runs a real SMTP server on loopback (aiosmtpd) and the app sends
to it over SMTP. Fast tier: `MemoryMailer` hands each message to the mailbox as the bytes an
SMTP client would send, parsed back as the SMTP server does, with no socket; and the mailbox
runs the job queue (`drain`) before every look, so a receipt whose job is queued has been
sent (or has failed) by the time a test reads the mailbox: deterministic, nothing waits.
"""

from __future__ import annotations

import email
import email.policy
import re
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from medgrader.config import Settings
from medgrader.core.adapters.mailer import Mailer
from tests.support.live_server import free_port


class _Handler:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mailbox.receive(envelope.original_content)
        return "250 OK"


class Mailbox:
    def __init__(self, *, drain: Callable[[], None] | None = None) -> None:
        self.port = free_port()
        self._messages: list[EmailMessage] = []
        self._changed = threading.Condition()
        self._controller: Controller | None = None
        # Run before every look (fast tier: the job queue until it is idle).
        self.drain = drain

    def start(self) -> None:
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def add(self, message: EmailMessage) -> None:
        with self._changed:
            self._messages.append(message)
            self._changed.notify_all()

    def receive(self, raw: bytes) -> None:
        """A message as it arrived on the wire."""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.add(parsed)

    def clear(self) -> None:
        with self._changed:
            self._messages.clear()

    def messages(self, to: str | None = None) -> list[EmailMessage]:
        if self.drain is not None:
            self.drain()
        with self._changed:
            found = list(self._messages)
        if to is not None:
            found = [m for m in found if to.lower() in str(m["To"]).lower()]
        return found

    def wait_for(
        self, predicate: Callable[[EmailMessage], bool], *, count: int = 1, timeout: float = 15.0
    ) -> list[EmailMessage]:
        if self.drain is not None:
            self.drain()
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                matching = [m for m in self._messages if predicate(m)]
                if len(matching) >= count:
                    return matching
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"expected {count} matching message(s), saw {len(matching)}")
                self._changed.wait(remaining)

    def latest_otp(self, to: str, *, after: int = 0, timeout: float = 15.0) -> str:
        """The code in the newest verification email to `to`, waiting for its (after+1)th."""
        messages = self.wait_for(
            lambda m: (
                to.lower() in str(m["To"]).lower()
                and "verification code" in str(m["Subject"]).lower()
            ),
            count=after + 1,
            timeout=timeout,
        )
        return extract_otp(messages[-1])


class MemoryMailer(Mailer):
    """The app's mailer for the fast tier: what `Mailer` would send over SMTP goes straight
    into a Mailbox (end-to-end tests use the real Mailer and SMTP)."""

    def __init__(self, settings: Settings, mailbox: Mailbox) -> None:
        super().__init__(settings)
        self._mailbox = mailbox

    async def deliver(self, message: EmailMessage) -> None:
        self._mailbox.receive(message.as_bytes(policy=email.policy.SMTP))


def text_body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "message has no text/plain part"
    return str(part.get_content())


def html_body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None, "message has no text/html part"
    return str(part.get_content())


def extract_otp(message: EmailMessage) -> str:
    match = re.search(r"\b(\d{6})\b", text_body(message))
    assert match is not None, "no 6-digit code in the email"
    return match.group(1)
