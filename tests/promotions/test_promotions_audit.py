"""The audit's promotion checks find what breaks the rules (the tests' fixtures run the audit
after every test: these break rows on purpose and look at the findings)."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from tests.checkout.support import settle_webhooks
from tests.promotions.support import checkout, create_promotion
from tests.support.accounts import Account
from tests.support.invariants import audit_findings


def _checks(db: psycopg.Connection) -> set[str]:
    return {finding[0] for finding in audit_findings(db)}


def test_the_audit_sees_promotion_rules_broken(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: Any, db: psycopg.Connection,
) -> None:  # fmt: skip
    promo = create_promotion(client, admin, bonusCredits=5, maxRedemptions=2, maxPerStudent=2)
    opened = checkout(client, student, packages["starter"]["id"], promo["code"])
    stripe_emulator.pay(opened.json()["sessionId"])
    settle_webhooks(stripe_emulator)
    assert _checks(db) == set()
    # The damage is done and looked at inside a transaction that is rolled back.
    with db.transaction(force_rollback=True):
        db.execute("UPDATE promotions SET max_redemptions = NULL WHERE id = %s", (promo["id"],))
        db.execute(
            """INSERT INTO promotion_redemptions (promotion_id, student_id, status)
               SELECT %s, %s, 'RESERVED' FROM generate_series(1, 3)""",
            (promo["id"], student.id),
        )
        db.execute("UPDATE promotions SET max_redemptions = 2 WHERE id = %s", (promo["id"],))
        db.execute(
            "UPDATE credit_transactions SET amount = amount + 1, balance_after = balance_after + 1"
            " WHERE source_type = 'PROMOTION_BONUS'"
        )
        db.execute(
            "UPDATE promotion_redemptions SET checkout_session_id = NULL, redeemed_at = NULL,"
            " status = 'RELEASED' WHERE checkout_session_id IS NOT NULL"
        )
        assert {"promotion_within_limits", "promoted_session_has_one_use",
                "promotion_grant_tied_to_its_use"} <= _checks(db)  # fmt: skip
    assert _checks(db) == set()
