"""Fixtures for the core tests that buy something."""

from tests.checkout.support import packages

__all__ = ["packages"]
