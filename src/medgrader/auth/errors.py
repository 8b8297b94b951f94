"""The refusals of accounts and sign-in (their statuses: core.statuses)."""

from __future__ import annotations

from medgrader.core.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
)


class InvalidAccessToken(Unauthorized):
    code, message = "invalid_token", "Invalid or expired access token."


class InvalidCredentials(Unauthorized):
    # The same words whether the email exists or not.
    code, message = "invalid_credentials", "Incorrect email or password."


class StudentOnly(Forbidden):
    code, message = "student_only", "Only students can do this."


class AdminOnly(Forbidden):
    code, message = "admin_only", "Administrators only."


class InvalidCode(BadRequest):
    # Unknown address, no pending sign-up, wrong or expired code: one answer for all, so that
    # it reveals nothing about which addresses exist.
    code, message = "invalid_otp", "Invalid or expired code."


class EmailUnavailable(ServiceUnavailable):
    code, message = "email_unavailable", "We could not send the email; try again shortly."


class GoogleAccountConflict(Conflict):
    code, message = (
        "google_account_conflict",
        "This email's account is linked to a different Google account.",
    )


class InvalidGoogleToken(Unauthorized):
    code, message = "invalid_google_token", "The Google sign-in could not be verified."


class GoogleSignInDisabled(NotFound):
    code, message = "google_sign_in_disabled", "Sign-in with Google is not enabled."
