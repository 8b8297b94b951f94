"""Request dependencies: the context and the request's one transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from medgrader.core.context import AppContext
from medgrader.db.lean import LeanSession, lean_transaction


async def get_context(request: Request) -> AppContext:
    # async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread
    # hand-off on every request for what is an attribute read.
    return request.app.state.context  # type: ignore[no-any-return]


async def db_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's transaction: committed when the endpoint returns, rolled back if it raises.

    scope="function" (below) runs the commit before the response is sent, so a client never
    sees success for a change that then failed to commit.
    """
    context: AppContext = request.app.state.context
    async with context.sessionmaker() as session, session.begin():
        yield session


async def lean_session(request: Request) -> AsyncIterator[LeanSession]:
    """The request's transaction on the lean path (raw psycopg, pipeline mode) for hot
    endpoints whose services use only text statements; the same commit/rollback rules as
    db_session. See medgrader.db.lean."""
    context: AppContext = request.app.state.context
    async with lean_transaction(context.lean_pool) as session:
        yield session


Ctx = Annotated[AppContext, Depends(get_context)]
DbSession = Annotated[AsyncSession, Depends(db_session, scope="function")]
LeanDb = Annotated[LeanSession, Depends(lean_session, scope="function")]
