"""A subscription period's lot made without Stripe (the plan and subscription rows as the flows
leave them, the period granted by THE grant call site, subscriptions.grants.grant_period), the
controllable clock for it, and what a rollover wrote."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from medgrader.holds.sweep import expire_due_holds
from medgrader.subscriptions.grants import PaidInvoice, grant_period
from tests.subscriptions.support import rows
from tests.support.services import ServiceRunner


@dataclass(frozen=True)
class PeriodLot:
    lot_id: str
    subscription_id: str
    invoice: str
    period_end: datetime


def period_lot(
    services: ServiceRunner,
    db: psycopg.Connection,
    student_id: str,
    *,
    credits: int = 500,
    price: int = 1500,
    cap: int = 100,
    interval: str = "month",
    renewed: bool = True,
) -> PeriodLot:
    """An ACTIVE subscription's paid period: a PAID lot of `credits` worth `price` pence.
    `renewed`: our row already shows the next period (its renewal's events came)."""
    tag = uuid.uuid4().hex[:12]
    [plan] = rows(
        db,
        """INSERT INTO plans (name, credits_per_period, price_pence, interval,
                              rollover_max_credits, stripe_product_id, stripe_price_id)
           VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING *""",
        f"Plan {tag}", credits, price, interval, cap, f"prod_{tag}", f"price_{tag}",
    )  # fmt: skip
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    end = start + timedelta(days=30)
    [subscription] = rows(
        db,
        """INSERT INTO subscriptions (student_id, plan_id, status, stripe_subscription_id,
                                      stripe_customer_id, current_period_start,
                                      current_period_end)
           VALUES (%s, %s, 'ACTIVE', %s, %s, %s, %s) RETURNING *""",
        student_id, plan["id"], f"sub_{tag}", f"cus_{tag}",
        end if renewed else start, end + timedelta(days=30) if renewed else end,
    )  # fmt: skip
    invoice = PaidInvoice(
        stripe_invoice_id=f"in_{tag}", stripe_subscription_id=f"sub_{tag}",
        billing_reason="subscription_create", amount_paid=price, currency="gbp",
        period_start=start, period_end=end, payment_intent=f"pi_{tag}", paid_at=start,
    )  # fmt: skip

    async def grant(session: Any, _: Any) -> None:
        granted = await grant_period(
            session, subscription=_Row(subscription), plan=_Row(plan), invoice=invoice
        )
        assert granted is not None

    services.in_transaction(grant)
    [lot] = rows(
        db,
        """SELECT l.id::text FROM credit_lots l JOIN credit_transactions t ON t.id = l.entry_id
            WHERE t.source_type = 'SUBSCRIPTION' AND t.source_id = %s""",
        invoice.stripe_invoice_id,
    )
    return PeriodLot(lot["id"], str(subscription["id"]), invoice.stripe_invoice_id, end)


class _Row:
    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def expire(db: psycopg.Connection, lot_id: str, *, ago: str = "1 second") -> datetime:
    """The controllable clock: the lot reached its expiry `ago` (its new expiresAt)."""
    row = db.execute(
        f"UPDATE credit_lots SET expires_at = now() - interval '{ago}' WHERE id = %s"
        " RETURNING expires_at",
        (lot_id,),
    ).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def sweep(services: ServiceRunner) -> int:
    """The every-minute job (holds.tasks -> lots_sweep)."""
    return services.in_transaction(lambda session, _: expire_due_holds(session))


def entries(db: psycopg.Connection, student_id: str) -> list[tuple[str, str, int, str]]:
    """(entry type, source type, amount, source id) of the lot entries (ROLLOVER, EXPIRY)."""
    return [
        (r["entry_type"], r["source_type"], r["amount"], r["source_id"])
        for r in rows(
            db,
            """SELECT entry_type, source_type, amount, source_id FROM credit_transactions
                WHERE student_id = %s AND source_type IN ('ROLLOVER', 'EXPIRY') ORDER BY seq""",
            student_id,
        )
    ]


def rollover_lots(db: psycopg.Connection, student_id: str) -> list[dict[str, Any]]:
    """The student's ROLLOVER lots with the movement that made each (its period's lot)."""
    return rows(
        db,
        """SELECT n.*, m.lot_id::text AS from_lot, m.credits AS moved, m.value_minor AS moved_value,
                  m.kind AS movement_kind
             FROM credit_lots n JOIN lot_movements m ON m.id = n.origin_movement_id
            WHERE n.student_id = %s AND n.source = 'ROLLOVER' ORDER BY n.seq""",
        student_id,
    )


def value_out(db: psycopg.Connection, lot_id: str) -> dict[str, int]:
    """The value that left the lot, by movement kind."""
    return {
        r["kind"]: int(r["value"])
        for r in rows(
            db,
            "SELECT kind, SUM(value_minor) AS value FROM lot_movements WHERE lot_id = %s"
            " GROUP BY kind",
            lot_id,
        )
    }
