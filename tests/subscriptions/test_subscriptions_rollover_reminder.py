"""The expiry reminder of a subscription period's lot says how many of its credits roll over
if the plan renews; a subscription set to cancel gets the plain reminder."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from medgrader.lots.tasks import send_expiry_reminders
from tests.subscriptions.rollover_support import period_lot
from tests.support.mailbox import Mailbox
from tests.support.services import ServiceRunner

pytestmark = pytest.mark.usefixtures("invariants")


@pytest.mark.parametrize(("cancelling", "note"), [(False, True), (True, False)])
def test_the_reminder_says_what_may_roll_over(
    services: ServiceRunner, db: psycopg.Connection, mailbox: Mailbox, new_student: Any,
    cancelling: bool, note: bool,
) -> None:  # fmt: skip
    student = new_student(balance=0)
    period = period_lot(services, db, student.id, credits=500, price=1500, cap=120)
    db.execute("UPDATE credit_lots SET expires_at = now() + interval '2 days' WHERE id = %s",
               (period.lot_id,))  # fmt: skip
    db.execute("UPDATE subscriptions SET cancel_at_period_end = %s WHERE id = %s",
               (cancelling, period.subscription_id))  # fmt: skip
    assert services.run(send_expiry_reminders) >= 1
    [sent] = [m for m in mailbox.messages(student.email) if "expire" in str(m["Subject"])]
    assert str(sent["Subject"]).startswith("500 credits expire on ")
    text = sent.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert ("up to 120 of them roll over into your next period" in text) is note
