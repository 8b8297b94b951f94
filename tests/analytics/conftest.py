"""Fixtures for the purchase tests."""

from tests.checkout.support import packages

__all__ = ["packages"]
