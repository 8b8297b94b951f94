"""Reconciliation and the expiry sweep: PENDING sessions that no webhook settled.

A session stays PENDING when its webhook never led to a credit: the endpoint was disabled,
deliveries failed for days, or one arrived before our row existed (`unknown_session`). Every
few minutes (`checkout.tasks`) this asks Stripe about each PENDING session older than a few
minutes and applies the answer with the same `apply_stripe_session` the webhook and the status
endpoint use: a paid session is fulfilled (exactly once, however the paths race), an expired
one becomes EXPIRED, an open one stays PENDING and is asked about again next time.

The job (checkout.tasks) drives it: the work list read in small batches, each batch in a unit
of work of its own, and each session in its own (Stripe asked with no connection held, see
checkout.flows), so one session's Stripe or database error is logged and skipped, never the
end of the run. This module holds the pieces: the report and what a session's outcome means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog

from medgrader.checkout.fulfilment import Outcome
from medgrader.models.checkout import CheckoutStatus

log = structlog.get_logger(__name__)

# Old enough that its webhook (delivered within seconds as a rule) should have settled it.
MIN_AGE = timedelta(minutes=10)
BATCH_SIZE = 50
# A bound on one run's Stripe calls; the rest wait for the next run.
MAX_SESSIONS_PER_RUN = 1000


@dataclass
class ReconciliationReport:
    checked: int = 0
    credited: list[str] = field(default_factory=list)  # Stripe session ids
    expired: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def note(report: ReconciliationReport, stripe_session_id: str, outcome: Outcome, row: Any) -> None:
    """What one session's reconciliation concluded."""
    if outcome.credited:
        report.credited.append(stripe_session_id)
        log.error(
            "ALERT reconciliation credited a paid checkout session: its webhook never did",
            alert="webhook_missed",
            stripe_session_id=stripe_session_id,
            student_id=str(row.student_id),
            credits=row.credits,
            payment_id=str(outcome.payment_id),
        )
    elif row.status == CheckoutStatus.EXPIRED:
        report.expired.append(stripe_session_id)


def done(report: ReconciliationReport) -> ReconciliationReport:
    log.info("checkout reconciliation done", checked=report.checked,
             credited=len(report.credited), expired=len(report.expired),
             errors=len(report.errors))  # fmt: skip
    return report
