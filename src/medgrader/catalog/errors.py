"""The refusals of the catalogue (their statuses: core.statuses)."""

from __future__ import annotations

from medgrader.core.errors import Conflict, NotFound


class PackageNotFound(NotFound):
    code, message = "package_not_found", "No such credit package."


class PackageNameTaken(Conflict):
    code, message = "package_name_taken", "A credit package with this name already exists."
