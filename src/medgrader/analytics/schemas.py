"""The analytics JSON: pence and counts, GBP, Europe/London calendar days."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from medgrader.core.schemas import ApiModel


class Money(ApiModel):
    """Gross, refunds, disputes and net revenue over a range, in pence."""

    payments: int
    gross_revenue: int
    refund_count: int
    refunds: int
    dispute_count: int
    disputes: int  # funds Stripe withdrew for disputes opened in the range
    net_revenue: int  # gross - refunds - disputes
    # The value of paid credits used in the range (spends, captures), and of paid credits
    # that expired or an administrator removed (breakage), in pence (credit lots).
    recognised_revenue: int
    breakage: int


class Checkouts(ApiModel):
    created: int
    completed: int
    expired: int
    failed: int
    pending: int


class PackageSales(ApiModel):
    package_name: str
    payments: int
    revenue: int
    credits: int


class AuditResult(ApiModel):
    ran_at: datetime
    findings: int
    clean: bool
    details: list[str]


class Summary(ApiModel):
    from_: date = Field(serialization_alias="from", validation_alias="from")
    to: date
    currency: Literal["GBP"] = "GBP"
    timezone: Literal["Europe/London"] = "Europe/London"
    money: Money
    checkouts: Checkouts
    by_package: list[PackageSales]
    discounts: int  # pence taken off the purchases paid in the range by promotions
    promotion_credits: int  # credits promotions granted in the range (bonuses, credit codes)
    # Subscriptions: what their invoices paid in the range (pence), how many are ACTIVE now,
    # their prices normalised to a month (a yearly price / 12, rounded half up; pence), and
    # how many that had started at Stripe ended in the range.
    subscription_revenue: int
    active_subscriptions: int
    mrr: int
    canceled_in_range: int
    credits_outstanding: int  # credits students hold now (positive balances)
    # The value of unspent, unexpired paid credits now, in pence (GET credit-liability).
    deferred_revenue: int
    negative_balances: int
    open_disputes: int
    open_dispute_amount: int
    # The inbox by status (GET /api/admin/webhook-events?status=): what an operator must look
    # at (handled events that wait; events whose handling failed, kept to retry) apart from
    # normal traffic no handler acts on.
    webhook_events_unprocessed: int
    webhook_events_failed: int
    webhook_events_unhandled: int
    last_audit: AuditResult | None


class Day(ApiModel):
    date: date
    payments: int
    gross_revenue: int
    refunds: int
    disputes: int
    net_revenue: int
    recognised_revenue: int
    breakage: int
    checkouts_created: int
    checkouts_completed: int
    discounts: int
    promotion_credits: int
    subscription_revenue: int


class Daily(ApiModel):
    from_: date = Field(serialization_alias="from", validation_alias="from")
    to: date
    currency: Literal["GBP"] = "GBP"
    timezone: Literal["Europe/London"] = "Europe/London"
    days: list[Day]
