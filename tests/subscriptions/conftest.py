"""Fixtures for the subscription tests (the credits fixtures: fast students with a chosen
balance, for the rollover tests)."""

from __future__ import annotations

from tests.credits.conftest import new_student

__all__ = ["new_student"]
