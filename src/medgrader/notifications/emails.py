"""The messages the product sends, built from templates."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage

from medgrader.core.money import format_money
from medgrader.notifications.rendering import render_email


def otp_email(*, app_name: str, to: str, first_name: str, code: str, minutes: int) -> EmailMessage:
    return render_email(
        "otp",
        to=to,
        subject=f"Your {app_name} verification code",
        context={"app_name": app_name, "first_name": first_name, "code": code, "minutes": minutes},
    )


def purchase_receipt_email(
    *,
    app_name: str,
    to: str,
    first_name: str,
    package_name: str,
    credits: int,
    amount_pence: int,
    currency: str,
    paid_at: datetime,
    reference: str,
    dashboard_url: str,
    message_id: str,
    top_up_settings_url: str | None = None,
) -> EmailMessage:
    """`top_up_settings_url`: the payment was an automatic top-up; the receipt says so and
    links to its settings."""
    return render_email(
        "purchase_receipt",
        to=to,
        subject=f"Payment Successful - {credits} Credits Added",
        message_id=message_id,
        context={
            "app_name": app_name,
            "first_name": first_name,
            "package_name": package_name,
            "credits": credits,
            "amount": format_money(amount_pence, currency),
            "date": f"{paid_at.day} {paid_at:%B %Y, %H:%M} UTC",
            "reference": reference,
            "dashboard_url": dashboard_url,
            "top_up_settings_url": top_up_settings_url,
        },
    )


def returns_notice_email(
    *,
    app_name: str,
    to: str,
    first_name: str,
    package_name: str,
    taken_back: bool,
    credits: int,
    amount_pence: int,
    currency: str,
    why: str,
    balance: int,
    reference: str,
    dashboard_url: str,
    message_id: str,
) -> EmailMessage:
    verb = "Taken Back" if taken_back else "Returned"
    return render_email(
        "returns_notice",
        to=to,
        subject=f"{credits} Credits {verb}",
        message_id=message_id,
        context={
            "app_name": app_name,
            "first_name": first_name,
            "package_name": package_name,
            "taken_back": taken_back,
            "credits": credits,
            "amount": format_money(amount_pence, currency),
            "why": why,
            "balance": balance,
            "reference": reference,
            "dashboard_url": dashboard_url,
        },
    )


def expiry_reminder_email(
    *,
    app_name: str,
    to: str,
    first_name: str,
    credits: int,
    expires_at: datetime,
    dashboard_url: str,
    message_id: str,
    rollover: int = 0,
) -> EmailMessage:
    """Credits of one lot expire soon (lots.tasks: one email per lot). `rollover`: how many of
    them roll over into the next period if the student's plan renews (a period's lot)."""
    when = f"{expires_at.day} {expires_at:%B %Y}"
    return render_email(
        "expiry_reminder",
        to=to,
        subject=f"{credits} credits expire on {when}",
        message_id=message_id,
        context={
            "app_name": app_name,
            "first_name": first_name,
            "credits": credits,
            "rollover": rollover,
            "date": when,
            "time": f"{expires_at:%H:%M} UTC",
            "dashboard_url": dashboard_url,
        },
    )


def signup_attempt_email(*, app_name: str, to: str, first_name: str) -> EmailMessage:
    """To the owner of an address someone tried to register again (sign-up answers as for a
    new address, so that it does not reveal which addresses have accounts)."""
    return render_email(
        "signup_attempt",
        to=to,
        subject=f"Someone tried to sign up for {app_name} with your email",
        context={"app_name": app_name, "first_name": first_name},
    )


def password_reset_email(*, app_name: str, to: str, code: str, minutes: int) -> EmailMessage:
    return render_email(
        "password_reset",
        to=to,
        subject=f"Your {app_name} password reset code",
        context={"app_name": app_name, "code": code, "minutes": minutes},
    )


def top_up_failed_email(
    *,
    app_name: str,
    to: str,
    first_name: str,
    package_name: str,
    credits: int,
    amount_pence: int,
    currency: str,
    needs_authentication: bool,
    reason: str,
    pay_url: str | None,
    settings_url: str,
    suspended: bool,
    message_id: str,
) -> EmailMessage:
    subject = (
        "Action needed: confirm your automatic top-up"
        if needs_authentication
        else "Your automatic top-up failed"
    )
    return render_email(
        "top_up_failed",
        to=to,
        subject=subject,
        message_id=message_id,
        context={
            "app_name": app_name,
            "first_name": first_name,
            "package_name": package_name,
            "credits": credits,
            "amount": format_money(amount_pence, currency),
            "needs_authentication": needs_authentication,
            "reason": reason,
            "pay_url": pay_url,
            "settings_url": settings_url,
            "suspended": suspended,
        },
    )


def subscription_payment_failed_email(
    *,
    app_name: str,
    to: str,
    first_name: str,
    plan_name: str,
    amount_pence: int,
    currency: str,
    portal_url: str,
    message_id: str,
) -> EmailMessage:
    return render_email(
        "subscription_payment_failed",
        to=to,
        subject=f"Your {app_name} plan: the payment did not go through",
        message_id=message_id,
        context={
            "app_name": app_name,
            "first_name": first_name,
            "plan_name": plan_name,
            "amount": format_money(amount_pence, currency),
            "portal_url": portal_url,
        },
    )
