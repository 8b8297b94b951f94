"""Fixtures for the VAT documents tests."""

from tests.checkout.support import packages

__all__ = ["packages"]
