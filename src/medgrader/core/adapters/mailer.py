"""Sending email over real SMTP with aiosmtplib.

Every email carries its own Message-ID, in the sender's domain: a random one (make_msgid),
or, for an email that stands for one thing (a purchase's receipt, one returns posting's
notice), one derived from that thing, so that a retried send of the same email keeps its id
(mail clients then show it once) and no two different emails share one.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid, parseaddr

import aiosmtplib

from medgrader.config import Settings


class MailDeliveryError(Exception):
    """The SMTP server could not be reached or refused the message."""


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @property
    def sender(self) -> str:
        return self._settings.mail_from

    @property
    def domain(self) -> str:
        """MAIL_FROM's domain, which every Message-ID we make ends with."""
        _, address = parseaddr(self._settings.mail_from)
        return address.rpartition("@")[2] or "medgrader.local"

    def message_id(self, names: str) -> str:
        """The Message-ID of the one email about `names` (e.g. "receipt-<payment id>")."""
        return f"<{names}@{self.domain}>"

    async def send(self, message: EmailMessage) -> None:
        s = self._settings
        if message["From"] is None:
            message["From"] = s.mail_from
        if message["Message-ID"] is None:
            message["Message-ID"] = make_msgid(domain=self.domain)
        await self.deliver(message)

    async def deliver(self, message: EmailMessage) -> None:
        """Hand the finished message to the SMTP server (tests deliver it elsewhere)."""
        s = self._settings
        try:
            await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_user or None,
                password=s.smtp_pass.get_secret_value() if s.smtp_pass else None,
                use_tls=s.smtp_use_tls,
                start_tls=s.smtp_start_tls,
                timeout=s.smtp_timeout_seconds,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MailDeliveryError(str(exc)) from exc
