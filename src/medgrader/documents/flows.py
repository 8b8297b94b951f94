"""The documents the emails attach (core.attachments.DocumentAttachments), for the composition
root to hand to notifications: each call first issues what the payment is due, in a
transaction of its own (committed whether or not the email then goes out), then renders the
PDFs asked for from their stored rows."""

from __future__ import annotations

import uuid

from psycopg_pool import AsyncConnectionPool

from medgrader.config import Settings
from medgrader.core.attachments import Attachment
from medgrader.db.transactions import unit_of_work
from medgrader.documents import repository
from medgrader.documents.service import Seller, issue_due_documents, rendered
from medgrader.models.documents import DocumentType


class DocumentFiles:
    def __init__(self, pool: AsyncConnectionPool, settings: Settings) -> None:
        self._pool = pool
        self._settings = settings

    async def _issue(self, payment_id: uuid.UUID) -> None:
        async with unit_of_work(self._pool) as db:
            await issue_due_documents(db, Seller.of(self._settings), payment_id)

    async def for_receipt(self, payment_id: uuid.UUID) -> list[Attachment]:
        await self._issue(payment_id)
        async with unit_of_work(self._pool) as db:
            documents = await repository.documents_of(db, payment_id)
            return [
                Attachment(*await rendered(db, d))
                for d in documents
                if d.type == DocumentType.RECEIPT
            ]

    async def for_returns(
        self, payment_id: uuid.UUID, stripe_object_id: str | None
    ) -> list[Attachment]:
        await self._issue(payment_id)
        async with unit_of_work(self._pool) as db:
            notes = await repository.notes_of_stripe_object(db, payment_id, stripe_object_id)
            return [Attachment(*await rendered(db, d)) for d in notes]
