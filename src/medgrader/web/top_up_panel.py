"""What the automatic top-up panel (partials/top_up_panel.html) needs besides the settings:
package names by id, including a package taken off sale since it was chosen."""

from __future__ import annotations

from typing import Any

from medgrader.catalog import service as catalog
from medgrader.db.session import Db


async def top_up_package_names(db: Db, on_sale: list[Any] | None = None) -> dict[str, str]:
    packages = await catalog.list_packages(db, include_inactive=True)
    return {str(p.id): p.name for p in [*packages, *(on_sale or [])]}
