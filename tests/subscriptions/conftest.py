"""Fixtures for the subscription tests."""
