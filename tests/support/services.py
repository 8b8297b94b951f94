"""Call the product's async services from synchronous tests, through one background loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from medgrader.config import Settings
from medgrader.core.context import AppContext
from medgrader.db.resolve import Database
from medgrader.runtime import open_context

T = TypeVar("T")


class ServiceRunner:
    def __init__(self, settings: Settings, database: Database) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._context_manager = open_context(settings, database)
        self.ctx: AppContext = self._submit(self._context_manager.__aenter__()).result()

    def _submit(self, coroutine: Awaitable[Any]) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)  # type: ignore[arg-type]

    def run(self, fn: Callable[[AppContext], Awaitable[T]], timeout: float = 60) -> T:
        return self._submit(fn(self.ctx)).result(timeout)

    def in_transaction(
        self, fn: Callable[[AsyncSession, AppContext], Awaitable[T]], timeout: float = 60
    ) -> T:
        """Run fn in one transaction that commits when it returns (rolls back if it raises)."""

        async def wrapper(ctx: AppContext) -> T:
            async with ctx.sessionmaker() as session, session.begin():
                return await fn(session, ctx)

        return self.run(wrapper, timeout)

    def close(self) -> None:
        self._submit(self._context_manager.__aexit__(None, None, None)).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
