"""Fixtures for the automatic top-up tests."""

from tests.checkout.support import packages

__all__ = ["packages"]
