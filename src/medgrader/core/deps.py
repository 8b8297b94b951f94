"""Request dependencies: the context and the request's unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from medgrader.core.context import AppContext
from medgrader.db.session import Db
from medgrader.db.transactions import unit_of_work


async def get_context(request: Request) -> AppContext:
    # async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread
    # hand-off on every request for what is an attribute read.
    return request.app.state.context  # type: ignore[no-any-return]


async def request_db(request: Request) -> AsyncIterator[Db]:
    """The request's unit of work (medgrader.db.transactions): committed when the endpoint
    returns, rolled back if it raises. It takes a connection only at its first statement.

    scope="function" (below) runs the commit before the response is sent, so a client never
    sees success for a change that then failed to commit. An endpoint that calls Stripe wraps
    the call in `external_call(db)`, so no connection is held while Stripe answers.
    """
    context: AppContext = request.app.state.context
    async with unit_of_work(context.db_pool) as db:
        yield db


Ctx = Annotated[AppContext, Depends(get_context)]
RequestDb = Annotated[Db, Depends(request_db, scope="function")]
