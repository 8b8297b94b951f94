"""The job queue: one procrastinate App per process, tasks gathered from domain blueprints.

A job that must follow a commit is deferred on the caller's own database connection
(`defer_in_transaction`), so it commits with the change that causes it or not at all.
"""

from __future__ import annotations

import copy
from typing import Any

import procrastinate
from sqlalchemy.ext.asyncio import AsyncSession


def _own_copy(blueprint: procrastinate.Blueprint) -> procrastinate.Blueprint:
    """A copy of the blueprint and its tasks for one App.

    `App.add_tasks_from` renames the blueprint's tasks in place ("ns:task"), so a second App in
    the same process (the API next to a CLI context, tests' service runner next to the live
    app) would register "ns:ns:task" and its worker would not find "ns:task" jobs.
    """
    fresh = procrastinate.Blueprint()
    clones: dict[int, Any] = {}
    for key, task in blueprint.tasks.items():
        if id(task) not in clones:
            clone = copy.copy(task)
            clone.aliases = list(task.aliases)
            clone.blueprint = fresh
            clones[id(task)] = clone
        fresh.tasks[key] = clones[id(task)]
    # Periodic schedules too (add_tasks_from copies them onto the App), bound to the clones.
    for periodic_task in blueprint.periodic_registry.periodic_tasks.values():
        fresh.periodic_registry.register_task(
            task=clones[id(periodic_task.task)],
            cron=periodic_task.cron,
            periodic_id=periodic_task.periodic_id,
            configure_kwargs=periodic_task.configure_kwargs,
        )
    return fresh


def create_job_app(libpq_url: str) -> procrastinate.App:
    # Imported here, not at the top: task modules use domain code that uses the AppContext,
    # and the context module builds job apps through this function.
    from medgrader.jobs.registry import BLUEPRINTS

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=libpq_url))
    for namespace, blueprint in BLUEPRINTS.items():
        app.add_tasks_from(_own_copy(blueprint), namespace=namespace)
    return app


async def driver_connection(session: AsyncSession) -> Any:
    """The psycopg AsyncConnection under the session's current transaction."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


async def defer_in_transaction(
    jobs: procrastinate.App,
    session: AsyncSession,
    task_name: str,
    *,
    queueing_lock: str | None = None,
    **task_kwargs: Any,
) -> int:
    """Enqueue a job inside the session's transaction: it exists only if that commits."""
    connection = await driver_connection(session)
    deferrer = jobs.configure_task(
        name=task_name, connection=connection, queueing_lock=queueing_lock
    )
    return await deferrer.defer_async(**task_kwargs)
