"""Fixtures for the credits tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.checkout.support import packages
from tests.credits.factory import make_student
from tests.support.accounts import Account
from tests.support.services import ServiceRunner

__all__ = ["new_student", "packages"]  # packages: the purchase rule of the model test


@pytest.fixture
def new_student(services: ServiceRunner) -> Callable[..., Account]:
    """new_student(balance=None) → a fresh student (in-process, no email round trip)."""

    def factory(*, balance: int | None = None) -> Account:
        return make_student(services, balance=balance)

    return factory
