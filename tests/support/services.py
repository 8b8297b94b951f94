"""Call the product's async services from synchronous tests, through one background loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from medgrader.config import Settings
from medgrader.core.context import AppContext
from medgrader.db.resolve import Database
from medgrader.db.session import Db
from medgrader.db.transactions import unit_of_work
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
        self, fn: Callable[[Db, AppContext], Awaitable[T]], timeout: float = 60
    ) -> T:
        """Run fn in one unit of work (medgrader.db.transactions): committed when it returns,
        rolled back if it raises (unless the error is a refusal that keeps its transaction)."""

        async def wrapper(ctx: AppContext) -> T:
            async with unit_of_work(ctx.db_pool) as db:
                return await fn(db, ctx)

        return self.run(wrapper, timeout)

    def close(self) -> None:
        self._submit(self._context_manager.__aexit__(None, None, None)).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
