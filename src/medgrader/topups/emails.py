"""What the student is told when an automatic top-up fails (the job: topups.tasks).

A decline that needs the student (`authentication_required`) gets a link that opens a normal
on-session Checkout for the same package (topups.flows.recover); any other decline gets its
reason in words. One email per attempt: the job claims `top_up_failed:<attempt>` in
sent_notices in the transaction that sends it.
"""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from typing import Any

from sqlalchemy import text

from medgrader.config import Settings
from medgrader.db.session import Db
from medgrader.notifications.emails import top_up_failed_email

FAILED_ATTEMPT = text(
    """
    SELECT a.id, a.status, a.package_name, a.credits, a.amount_pence, a.currency,
           a.failure_code, a.decline_code, u.email, s.first_name,
           t.suspended_at IS NOT NULL AS suspended
      FROM auto_top_up_attempts a
      JOIN users u ON u.id = a.student_id
      JOIN student_profiles s ON s.user_id = a.student_id
      LEFT JOIN auto_top_up_settings t ON t.student_id = a.student_id
     WHERE a.id = :id
    """
)
CLAIM = text(
    "INSERT INTO sent_notices (key) VALUES (:key) ON CONFLICT (key) DO NOTHING RETURNING 1"
)

NEEDS_THE_STUDENT = "authentication_required"
# Stripe's decline codes (and error codes) in words a student understands.
REASONS = {
    "insufficient_funds": "your card has insufficient funds",
    "expired_card": "your card has expired",
    "card_declined": "your card was declined by your bank",
    "generic_decline": "your card was declined by your bank",
    "incorrect_cvc": "your card's security code was refused",
    "processing_error": "the payment could not be processed",
    "lost_card": "your card was reported lost",
    "stolen_card": "your card was reported stolen",
}


def reason_text(code: str | None, decline: str | None) -> str:
    return REASONS.get(decline or "", REASONS.get(code or "", "the payment was declined"))


async def claim(db: Db, attempt_id: uuid.UUID) -> Any | None:
    """The failed attempt and its addressee, if its email is still to send (claimed now)."""
    row = (await db.execute(FAILED_ATTEMPT, {"id": attempt_id})).one_or_none()
    if row is None or row.status != "FAILED":
        return None
    if (await db.execute(CLAIM, {"key": f"top_up_failed:{row.id}"})).first() is None:
        return None
    return row


def failure_email(settings: Settings, row: Any, message_id: str) -> EmailMessage:
    frontend = settings.frontend_url.rstrip("/")
    needs_student = row.failure_code == NEEDS_THE_STUDENT
    return top_up_failed_email(
        app_name=settings.app_name,
        to=row.email,
        first_name=row.first_name,
        package_name=row.package_name,
        credits=row.credits,
        amount_pence=row.amount_pence,
        currency=row.currency,
        needs_authentication=needs_student,
        reason=reason_text(row.failure_code, row.decline_code),
        pay_url=f"{frontend}/wallet/top-ups/{row.id}/pay" if needs_student else None,
        settings_url=f"{frontend}/wallet#auto-top-up",
        suspended=bool(row.suspended),
        message_id=message_id,
    )
