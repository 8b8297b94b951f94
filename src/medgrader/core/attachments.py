"""What the emails attach, seen from below: the receipt email (notifications) carries the
payment's VAT documents (documents), but notifications sits below documents in the package
order (auth and payments send emails; documents reads them). The composition root
(runtime.open_context) hands notifications the documents' implementation through this
Protocol, as /health reads the worker through core.worker_health."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str = "application"
    subtype: str = "pdf"


class DocumentAttachments(Protocol):
    async def for_receipt(self, payment_id: uuid.UUID) -> list[Attachment]:
        """The payment's receipt (issued now if it was not yet: committed first)."""
        ...

    async def for_returns(
        self, payment_id: uuid.UUID, stripe_object_id: str | None
    ) -> list[Attachment]:
        """The credit and debit notes of one refund or dispute (issued now if due)."""
        ...


class NoAttachments:
    """For a context built without the documents domain."""

    async def for_receipt(self, payment_id: uuid.UUID) -> list[Attachment]:
        return []

    async def for_returns(
        self, payment_id: uuid.UUID, stripe_object_id: str | None
    ) -> list[Attachment]:
        return []
