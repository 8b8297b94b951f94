"""Fixtures for the lots tests (the credits fixtures: fast students with a chosen balance)."""

from __future__ import annotations

from tests.credits.conftest import new_student, packages

__all__ = ["new_student", "packages"]
