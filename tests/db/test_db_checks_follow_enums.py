"""The database's CHECKs on enumerated columns hold exactly the values of the Python enums
that generate them (models.base.one_of): one definition, and the migrated schema agrees."""

from __future__ import annotations

import re
from collections.abc import Iterable

import psycopg
import pytest

from medgrader.models.checkout import CheckoutStatus
from medgrader.models.holds import HoldStatus
from medgrader.models.ledger import CLAWBACK_SOURCES, EntryType, SourceType
from medgrader.models.lots import MovementKind
from medgrader.models.payments import REFUND_STATUSES, PaymentStatus
from medgrader.models.topups import AttemptStatus
from medgrader.models.users import ROLES


def _values(db: psycopg.Connection, constraint: str) -> set[str]:
    row = db.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = %s", (constraint,)
    ).fetchone()
    assert row is not None, f"no constraint {constraint}"
    return set(re.findall(r"'([^']*)'", row[0]))


@pytest.mark.parametrize(
    ("constraint", "values"),
    [
        ("ck_credit_transactions_entry_type", EntryType),
        ("ck_credit_transactions_source_type", SourceType),
        ("ck_credit_holds_status", HoldStatus),
        ("ck_checkout_sessions_status", CheckoutStatus),
        ("ck_payments_status", PaymentStatus),
        ("ck_refunds_status", REFUND_STATUSES),
        ("ck_users_role", ROLES),
        ("ck_auto_top_up_attempts_status", AttemptStatus),
        ("ck_lot_movements_kind", MovementKind),
    ],
)
def test_a_check_holds_the_enums_values(
    db: psycopg.Connection, constraint: str, values: Iterable[str]
) -> None:
    assert _values(db, constraint) == {str(v) for v in values}


def test_only_clawbacks_may_leave_a_negative_balance(db: psycopg.Connection) -> None:
    allowed = _values(db, "ck_credit_transactions_no_negative_unless_clawback")
    assert allowed == {EntryType.CREDIT.value, *(s.value for s in CLAWBACK_SOURCES)}
