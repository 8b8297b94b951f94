"""The figures: subscription revenue (summary and daily), active subscriptions, MRR (a yearly
price counted as a twelfth) and the subscriptions that ended in the range."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from tests.analytics.support import todays_figures
from tests.checkout.support import settle_webhooks
from tests.subscriptions.support import create_plan, sdk, stripe_subscription_of, subscribe
from tests.support.accounts import Account, sign_up
from tests.support.mailbox import Mailbox

pytestmark = pytest.mark.usefixtures("invariants")


def test_subscriptiontodays_figures(
    client: httpx.Client, admin: Account, student: Account, mailbox: Mailbox,
    stripe_emulator: Any, db: psycopg.Connection,
) -> None:  # fmt: skip
    summary, day = todays_figures(client, admin)
    assert (summary["subscriptionRevenue"], summary["activeSubscriptions"], summary["mrr"],
            summary["canceledInRange"], day["subscriptionRevenue"]) == (0, 0, 0, 0, 0)  # fmt: skip
    monthly = create_plan(client, admin, priceMinor=1500)
    yearly = create_plan(client, admin, priceMinor=10000, interval="year")
    other = sign_up(client, mailbox, role="student")
    session_id = subscribe(client, stripe_emulator, student, monthly["id"])["sessionId"]
    subscribe(client, stripe_emulator, other, yearly["id"])

    summary, day = todays_figures(client, admin)
    assert summary["subscriptionRevenue"] == day["subscriptionRevenue"] == 11500
    assert summary["activeSubscriptions"] == 2
    assert summary["mrr"] == 1500 + 833  # 10000 / 12, rounded half up
    assert summary["canceledInRange"] == 0
    assert summary["money"]["grossRevenue"] == 11500

    sdk(stripe_emulator).v1.subscriptions.cancel(
        stripe_subscription_of(stripe_emulator, session_id).id
    )
    settle_webhooks(stripe_emulator)
    summary, _ = todays_figures(client, admin)
    assert (summary["activeSubscriptions"], summary["mrr"], summary["canceledInRange"]) == (
        1, 833, 1)  # fmt: skip
    assert summary["subscriptionRevenue"] == 11500  # what was paid stays paid
