"""The limits on holds, on an app with the default settings (the suite's own app allows many
active holds for its concurrency tests): HOLDS_MAX_ACTIVE_PER_STUDENT (5) active holds at
most, two creations racing at the limit cannot both pass, and HOLD_MAX_LIFETIME_SECONDS
(14,400) from creation bounds every extension, the hold staying as it was when refused.
Refusals replay like every answer under an Idempotency-Key."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest

from medgrader.config import Settings
from medgrader.holds import service as holds
from medgrader.holds.errors import HoldLifetimeExceeded, TooManyHolds
from medgrader.holds.limits import HoldLimits
from tests.credits.factory import new_key, spend_headers
from tests.holds.support import HOLDS, act, balances, create, new_hold
from tests.support.accounts import Account
from tests.support.services import ServiceRunner

pytestmark = pytest.mark.usefixtures("invariants")
NewStudent = Callable[..., Account]
DEFAULTS = {
    name: Settings.model_fields[name].default
    for name in ("holds_max_active_per_student", "hold_max_lifetime_seconds")
}


@pytest.fixture
def limited_app(build_app: Callable[..., Any], serve: Callable[[Any], Any]) -> Any:
    """An app with the default hold limits, on the suite's database."""
    assert DEFAULTS == {"holds_max_active_per_student": 5, "hold_max_lifetime_seconds": 14_400}
    return serve(build_app(**DEFAULTS))


@pytest.fixture
def limited(limited_app: Any) -> Iterator[httpx.Client]:
    with limited_app.client() as http:
        yield http


def active(db: psycopg.Connection, student: Account) -> int:
    row = db.execute(
        "SELECT count(*) FROM credit_holds"
        " WHERE student_id = %s AND status = 'ACTIVE' AND expires_at > now()",
        (student.id,),
    ).fetchone()
    return int(row[0])  # type: ignore[index]


def hold_state(db: psycopg.Connection, hold_id: str) -> tuple[object, ...]:
    row = db.execute(
        "SELECT status, amount, ttl_seconds, expires_at, updated_at FROM credit_holds"
        " WHERE id = %s",
        (hold_id,),
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_one_hold_more_than_the_limit_is_refused_and_replays(
    limited: httpx.Client, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=100)
    held = [new_hold(limited, student, 5) for _ in range(5)]
    key = new_key()
    refused = create(limited, student, 5, key=key)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "too_many_holds"
    assert active(db, student) == 5
    assert balances(limited, student) == {
        "balance": 100, "held": 25, "available": 75,
    }  # fmt: skip

    # One ends: there is room again, but the refused request still answers as it did.
    released = act(limited, student, held[0]["holdId"], "release")
    assert released.status_code == 200, released.text
    again = create(limited, student, 5, key=key)
    assert (again.status_code, again.json()) == (409, refused.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert create(limited, student, 5).status_code == 201
    assert active(db, student) == 5


def test_an_expired_hold_no_longer_counts(
    limited: httpx.Client, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=100)
    held = [new_hold(limited, student, 1) for _ in range(5)]
    db.execute(
        "UPDATE credit_holds SET created_at = now() - interval '61 seconds',"
        " expires_at = now() - interval '1 second' WHERE id = %s",
        (held[0]["holdId"],),
    )  # its time passed; the sweep has not written EXPIRED yet
    assert create(limited, student, 1).status_code == 201


async def _create_all(app: Any, student: Account, count: int) -> list[httpx.Response]:
    async with app.async_client() as http:
        return list(
            await asyncio.gather(
                *(
                    http.post(
                        HOLDS,
                        json={"amount": 1, "reason": "voice"},
                        headers=spend_headers(student, new_key()),
                    )
                    for _ in range(count)
                )
            )
        )


@pytest.mark.parametrize("already", [0, 4])
def test_creations_racing_at_the_limit_never_pass_it(
    limited_app: Any,
    limited: httpx.Client,
    db: psycopg.Connection,
    new_student: NewStudent,
    already: int,
) -> None:
    student = new_student(balance=1000)
    for _ in range(already):
        new_hold(limited, student, 1)
    responses = asyncio.run(_create_all(limited_app, student, 20))
    assert Counter(r.status_code for r in responses) == {201: 5 - already, 409: 15 + already}
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"too_many_holds"}
    assert active(db, student) == 5


def test_an_extension_past_the_lifetime_is_refused_and_changes_nothing(
    limited: httpx.Client, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=100)
    hold = new_hold(limited, student, 10, ttlSeconds=900)
    # The controllable clock: the call began 14,000 s ago (400 s of its lifetime are left)
    # and was last extended to expire in 300 s.
    db.execute(
        "UPDATE credit_holds SET created_at = now() - interval '14000 seconds',"
        " expires_at = now() + interval '300 seconds' WHERE id = %s",
        (hold["holdId"],),
    )
    before = hold_state(db, hold["holdId"])
    key = new_key()
    for body, with_key in (
        ({"ttlSeconds": 600}, key),  # to now + 600: past created + 14,400
        ({"additionalAmount": 2}, None),  # the hold's own ttl (900) goes past it too
    ):
        refused = act(limited, student, hold["holdId"], "extend", body, key=with_key)
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "hold_lifetime_exceeded"
        assert hold_state(db, hold["holdId"]) == before  # amount, ttl and expiry as they were
    replayed = act(limited, student, hold["holdId"], "extend", {"ttlSeconds": 600}, key=key)
    assert (replayed.status_code, replayed.json()["code"]) == (409, "hold_lifetime_exceeded")
    assert replayed.headers["Idempotent-Replayed"] == "true"

    within = act(limited, student, hold["holdId"], "extend",
                 {"additionalAmount": 2, "ttlSeconds": 360})  # fmt: skip
    assert within.status_code == 200, within.text
    assert within.json()["amount"] == 12
    captured = act(limited, student, hold["holdId"], "capture", {"amount": 7})
    assert captured.status_code == 201, captured.text


def test_a_hold_created_for_longer_than_its_lifetime_is_refused(
    limited: httpx.Client, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=100)
    refused = create(limited, student, 10, ttlSeconds=14_401)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "hold_lifetime_exceeded"
    assert active(db, student) == 0
    assert create(limited, student, 10, ttlSeconds=14_400).status_code == 201


def test_in_process_callers_get_the_same_limits(
    services: ServiceRunner, new_student: NewStudent
) -> None:
    student = uuid.UUID(new_student(balance=100).id)
    limits = HoldLimits(max_active=1, max_lifetime_seconds=600)

    def create_one(ttl: int = 600) -> holds.HoldResult:
        return services.in_transaction(
            lambda session, _: holds.create_hold(
                session, student_id=student, amount=1, reason="voice", ttl_seconds=ttl,
                idempotency_key=new_key(), limits=limits,
            )
        )  # fmt: skip

    with pytest.raises(HoldLifetimeExceeded):
        create_one(ttl=601)
    assert create_one().hold.status == "ACTIVE"
    with pytest.raises(TooManyHolds):
        create_one()


def test_both_codes_are_documented_on_their_routes(limited: httpx.Client) -> None:
    paths = limited.get("/openapi.json").json()["paths"]
    on_create = paths[HOLDS]["post"]["responses"]["409"]["description"]
    on_extend = paths[f"{HOLDS}/{{hold_id}}/extend"]["post"]["responses"]["409"]["description"]
    assert "too_many_holds" in on_create
    assert "hold_lifetime_exceeded" in on_create
    assert "hold_lifetime_exceeded" in on_extend
