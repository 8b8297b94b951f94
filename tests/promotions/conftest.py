"""Fixtures for the promotion tests."""

from tests.checkout.support import packages

__all__ = ["packages"]
