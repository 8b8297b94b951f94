"""The procrastinate App of one process, built from the blueprints the composition root
(`medgrader.runtime`, which alone imports every domain's tasks) hands it: the job runtime
imports no domain."""

from __future__ import annotations

import copy
from typing import Any

import procrastinate


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


def create_job_app(
    libpq_url: str, blueprints: dict[str, procrastinate.Blueprint]
) -> procrastinate.App:
    """The App with each blueprint's tasks under its namespace (opened by the caller, on its
    own pool: `await app.open_async(pool=...)`)."""
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=libpq_url))
    for namespace, blueprint in blueprints.items():
        app.add_tasks_from(_own_copy(blueprint), namespace=namespace)
    return app
