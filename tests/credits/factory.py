"""Fast test students: created in-process (no email round trip), with a chosen balance."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

from medgrader.auth.service import create_user
from medgrader.core.tokens import issue_access_token
from medgrader.ledger import service as ledger
from medgrader.models.ledger import SourceType
from tests.support.accounts import PASSWORD, Account, unique_email
from tests.support.services import ServiceRunner


def make_student(services: ServiceRunner, *, balance: int | None = None) -> Account:
    """A verified student with the welcome bonus, then adjusted to `balance` if given."""
    email = unique_email("student")

    async def create(session: Any, ctx: Any) -> uuid.UUID:
        user = await create_user(
            session,
            ctx,
            email=email,
            password_hash="not-a-real-hash",  # never logs in; uses a token
            role="student",
            first_name="Test",
            last_name="Student",
        )
        if balance is not None:
            current = await ledger.get_balance(session, user.id)
            await adjust(session, user.id, balance - current)
        return user.id

    user_id = services.in_transaction(create)
    token = issue_access_token(services.ctx.tokens, user_id, 0)
    return Account(id=str(user_id), email=email, password=PASSWORD, token=token, role="student")


async def adjust(session: Any, student_id: uuid.UUID, delta: int) -> None:
    if delta > 0:
        await ledger.credit(
            session,
            student_id=student_id,
            amount=delta,
            source_type=SourceType.ADMIN_ADJUSTMENT,
            description="test: set balance",
        )
    elif delta < 0:
        entry = await ledger.debit(
            session,
            student_id=student_id,
            amount=-delta,
            source_type=SourceType.ADMIN_ADJUSTMENT,
            description="test: set balance",
        )
        assert entry is not None


def entry_count(db: psycopg.Connection, student_id: str, source_type: str | None = None) -> int:
    query = "SELECT count(*) FROM credit_transactions WHERE student_id = %s"
    params: tuple[Any, ...] = (student_id,)
    if source_type is not None:
        query += " AND source_type = %s"
        params += (source_type,)
    row = db.execute(query, params).fetchone()
    assert row is not None
    return int(row[0])


def key_count(db: psycopg.Connection, student_id: str) -> int:
    row = db.execute(
        "SELECT count(*) FROM idempotency_keys WHERE student_id = %s", (student_id,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def new_key() -> str:
    return f"test-{uuid.uuid4()}"


def spend_headers(account: Account, key: str | None) -> dict[str, str]:
    headers = dict(account.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers
