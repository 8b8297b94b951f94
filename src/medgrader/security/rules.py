"""Which abuse limits each operation counts against (the counting: security.limits).

Per client address and per email. The per-email code limits come from the OTP settings: one
code sent per OTP_RESEND_INTERVAL_SECONDS and OTP_MAX_SENDS_PER_HOUR an hour, and
OTP_MAX_ATTEMPTS tries per OTP_TTL_SECONDS, counted whether or not the address has an account
or a pending sign-up (so the answers reveal neither), and not reset by asking for a new code.
"""

from __future__ import annotations

import uuid

from medgrader.config import Settings
from medgrader.security.limits import Bucket, Limit


def login(settings: Settings, email: str, address: str) -> list[Bucket]:
    return [
        Bucket("login:account", email, Limit.parse(settings.rate_limit_login_per_account)),
        Bucket("login:address", address, Limit.parse(settings.rate_limit_login_per_address)),
    ]


def code_sent(settings: Settings, purpose: str, email: str, address: str) -> list[Bucket]:
    """Sign-up and password-reset codes share the per-address budget; each has its own
    per-email one."""
    return [
        Bucket("codes:address", address, Limit.parse(settings.rate_limit_codes_per_address)),
        Bucket(f"{purpose}:email", email, Limit(1, settings.otp_resend_interval_seconds)),
        Bucket(f"{purpose}:email-hour", email, Limit(settings.otp_max_sends_per_hour, 3600)),
    ]


def code_tried(settings: Settings, purpose: str, email: str, address: str) -> list[Bucket]:
    return [
        Bucket("verify:address", address, Limit.parse(settings.rate_limit_verify_per_address)),
        Bucket(
            f"{purpose}:verify-email",
            email,
            Limit(settings.otp_max_attempts, settings.otp_ttl_seconds),
        ),
    ]


def checkout(settings: Settings, student_id: uuid.UUID) -> list[Bucket]:
    return [
        Bucket(
            "checkout:student",
            str(student_id),
            Limit.parse(settings.rate_limit_checkout_per_student),
        )
    ]
