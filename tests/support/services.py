"""Call the product's async services from synchronous tests, on a background loop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

from medgrader.config import Settings
from medgrader.core.context import AppContext
from medgrader.db.resolve import Database
from medgrader.db.session import Db
from medgrader.db.transactions import unit_of_work
from medgrader.runtime import open_context
from tests.support.loop import LoopThread

T = TypeVar("T")


class ServiceRunner:
    """`ServiceRunner(settings, database)` opens an AppContext of its own on a loop of its own
    (closed by `close()`); `ServiceRunner.attached(loop, ctx)` uses a running app's (the fast
    tier's: its services then share the app's pools and loop)."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self._loop = LoopThread("services")
        self._context_manager: AbstractAsyncContextManager[AppContext] | None = open_context(
            settings, database
        )
        self.ctx: AppContext = self._loop.run(self._context_manager.__aenter__())

    @classmethod
    def attached(cls, loop: LoopThread, ctx: AppContext) -> ServiceRunner:
        runner = cls.__new__(cls)
        runner._loop = loop
        runner._context_manager = None
        runner.ctx = ctx
        return runner

    def run(self, fn: Callable[[AppContext], Awaitable[T]], timeout: float = 60) -> T:
        async def call() -> T:
            return await fn(self.ctx)

        return self._loop.run(call(), timeout)

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
        if self._context_manager is None:
            return  # attached: the app's owner closes its context and loop
        self._loop.run(self._context_manager.__aexit__(None, None, None), 30)
        self._loop.close()
