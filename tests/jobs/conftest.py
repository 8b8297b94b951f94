"""The fault tests use `fault_server` and `fault_settings` (tests/conftest.py)."""
