"""The messages the product sends, built from templates."""

from __future__ import annotations

from email.message import EmailMessage

from medgrader.notifications.rendering import render_email


def otp_email(*, app_name: str, to: str, first_name: str, code: str, minutes: int) -> EmailMessage:
    return render_email(
        "otp",
        to=to,
        subject=f"Your {app_name} verification code",
        context={"app_name": app_name, "first_name": first_name, "code": code, "minutes": minutes},
    )
