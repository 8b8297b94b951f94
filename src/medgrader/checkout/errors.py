"""The refusals of starting and following a checkout (their statuses: core.statuses)."""

from __future__ import annotations

from medgrader.core.errors import Conflict, Forbidden, NotFound


class PackageInactive(Conflict):
    code, message = "package_inactive", "This credit package is no longer on sale."


class EmailNotVerified(Forbidden):
    code, message = "email_not_verified", "Verify your email before buying credits."


class CheckoutNotFound(NotFound):
    code, message = "checkout_session_not_found", "No such checkout session."
