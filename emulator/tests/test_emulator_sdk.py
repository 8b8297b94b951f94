"""The official stripe SDK, unmodified, against the emulator."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import stripe

from stripe_emulator.testing import EmulatorServer


def test_customers_create_retrieve_update_and_list_by_email(
    stripe_client: stripe.StripeClient,
) -> None:
    ada = stripe_client.v1.customers.create(
        params={"email": "ada@example.com", "name": "Ada", "metadata": {"user_id": "1", "x": "y"}}
    )
    stripe_client.v1.customers.create(params={"email": "bob@example.com"})

    assert ada.id.startswith("cus_")
    assert ada.object == "customer"
    assert stripe_client.v1.customers.retrieve(ada.id).email == "ada@example.com"

    updated = stripe_client.v1.customers.update(
        ada.id, params={"name": "Ada Lovelace", "metadata": {"x": "", "plan": "gold"}}
    )
    assert updated.name == "Ada Lovelace"
    # Metadata updates merge; an empty value deletes the key.
    assert updated.metadata.to_dict() == {"user_id": "1", "plan": "gold"}

    found = stripe_client.v1.customers.list(params={"email": "ada@example.com"})
    assert [c.id for c in found.data] == [ada.id]
    assert len(stripe_client.v1.customers.list().data) == 2

    events = stripe_client.v1.events.list(params={"type": "customer.*"}).data
    assert [e.type for e in events] == ["customer.updated", "customer.created", "customer.created"]
    assert events[0].data.previous_attributes["name"] == "Ada"


def test_session_create_and_retrieve_with_expansions(
    stripe_client: stripe.StripeClient, make_session: Callable[..., Any], emulator: EmulatorServer
) -> None:
    expires_at = int(time.time()) + 3600
    session = make_session(
        customer_email="student@example.com",
        client_reference_id="user-42",
        metadata={"package_id": "p1"},
        payment_intent_data={"metadata": {"package_id": "p1"}},
        expires_at=expires_at,
    )
    assert session.id.startswith("cs_test_")
    assert (session.status, session.payment_status, session.mode) == ("open", "unpaid", "payment")
    assert (session.amount_total, session.currency) == (1000, "gbp")
    assert session.expires_at == expires_at
    assert session.client_reference_id == "user-42"
    assert session.metadata.to_dict() == {"package_id": "p1"}
    assert session.url == f"{emulator.url}/c/pay/{session.id}"
    assert session.payment_intent is None
    assert "line_items" not in session

    expanded = stripe_client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["line_items"]}
    )
    item = expanded.line_items.data[0]
    assert (item.quantity, item.amount_total, item.description) == (1, 1000, "100 credits")
    assert item.price.unit_amount == 1000

    emulator.pay(session.id)
    paid = stripe_client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent.latest_charge"]}
    )
    pi = paid.payment_intent
    assert (paid.status, paid.payment_status) == ("complete", "paid")
    assert paid.customer_details.email == "student@example.com"
    assert pi.id.startswith("pi_")
    assert pi.status == "succeeded"
    assert pi.amount_received == 1000
    assert pi.metadata.to_dict() == {"package_id": "p1"}
    assert pi.latest_charge.id.startswith("ch_")
    assert pi.latest_charge.payment_intent == pi.id
    charge = stripe_client.v1.charges.retrieve(pi.latest_charge.id)
    assert (charge.paid, charge.status, charge.amount) == (True, "succeeded", 1000)
    assert stripe_client.v1.payment_intents.retrieve(pi.id).latest_charge == charge.id


def test_session_with_customer_and_several_line_items(
    stripe_client: stripe.StripeClient, make_session: Callable[..., Any]
) -> None:
    customer = stripe_client.v1.customers.create(params={"email": "c@example.com"})
    items = [
        {"quantity": q, "price_data": {"currency": "gbp", "unit_amount": a,
                                       "product_data": {"name": n}}}
        for q, a, n in ((2, 4500, "500 credits"), (1, 8000, "1000 credits"), (3, 1000, "100"))
    ]  # fmt: skip
    session = make_session(customer=customer.id, line_items=items)
    assert session.customer == customer.id
    assert session.amount_total == 2 * 4500 + 8000 + 3 * 1000

    # The sub-list keeps the given order and paginates.
    first = stripe_client.v1.checkout.sessions.line_items.list(session.id, params={"limit": 2})
    assert [i.description for i in first.data] == ["500 credits", "1000 credits"]
    assert first.has_more is True
    rest = stripe_client.v1.checkout.sessions.line_items.list(
        session.id, params={"starting_after": first.data[-1].id}
    )
    assert [i.description for i in rest.data] == ["100"]
    assert rest.has_more is False


def test_session_list_filters_and_pagination(
    stripe_client: stripe.StripeClient, make_session: Callable[..., Any], emulator: EmulatorServer
) -> None:
    alice = stripe_client.v1.customers.create(params={"email": "alice@example.com"})
    bob = stripe_client.v1.customers.create(params={"email": "bob@example.com"})
    mine = [make_session(customer=alice.id) for _ in range(3)]
    other = make_session(customer=bob.id)
    emulator.pay(mine[0].id)
    pi_id = stripe_client.v1.checkout.sessions.retrieve(mine[0].id).payment_intent

    by_customer = stripe_client.v1.checkout.sessions.list(params={"customer": alice.id})
    # Newest first.
    assert [s.id for s in by_customer.data] == [s.id for s in reversed(mine)]
    assert by_customer.url == "/v1/checkout/sessions"
    assert by_customer.object == "list"

    completed = stripe_client.v1.checkout.sessions.list(params={"status": "complete"})
    assert [s.id for s in completed.data] == [mine[0].id]
    by_pi = stripe_client.v1.checkout.sessions.list(params={"payment_intent": pi_id})
    assert [s.id for s in by_pi.data] == [mine[0].id]
    assert (
        stripe_client.v1.checkout.sessions.list(
            params={"created": {"gte": int(time.time()) + 1000}}
        ).data
        == []
    )

    page = stripe_client.v1.checkout.sessions.list(params={"limit": 2})
    assert [s.id for s in page.data] == [other.id, mine[2].id]
    assert page.has_more is True
    page2 = stripe_client.v1.checkout.sessions.list(
        params={"limit": 2, "starting_after": page.data[-1].id}
    )
    assert [s.id for s in page2.data] == [mine[1].id, mine[0].id]
    assert page2.has_more is False
    back = stripe_client.v1.checkout.sessions.list(
        params={"limit": 1, "ending_before": page2.data[0].id}
    )
    assert [s.id for s in back.data] == [mine[2].id]
    assert back.has_more is True

    everything = list(
        stripe_client.v1.checkout.sessions.list(params={"limit": 1}).auto_paging_iter()
    )
    assert [s.id for s in everything] == [other.id, *[s.id for s in reversed(mine)]]


def test_expire_open_session_then_refuse_to_expire_again(
    stripe_client: stripe.StripeClient, make_session: Callable[..., Any], emulator: EmulatorServer
) -> None:
    session = make_session()
    expired = stripe_client.v1.checkout.sessions.expire(session.id)
    assert (expired.status, expired.url) == ("expired", None)

    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.expire(session.id)
    assert "can be expired" in info.value.user_message
    assert info.value.http_status == 400

    events = stripe_client.v1.events.list(params={"type": "checkout.session.expired"}).data
    assert [e.data.object.id for e in events] == [session.id]

    paid = make_session()
    emulator.pay(paid.id)
    with pytest.raises(stripe.InvalidRequestError, match="status of complete"):
        stripe_client.v1.checkout.sessions.expire(paid.id)


def test_sessions_expire_when_their_time_passes(
    stripe_client: stripe.StripeClient, make_session: Callable[..., Any], emulator: EmulatorServer
) -> None:
    session = make_session(expires_at=int(time.time()) + 1800)
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"
    result = emulator.advance_clock(1801)
    assert result["expired"] == 1
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "expired"
    assert stripe_client.v1.events.list(params={"type": "checkout.session.expired"}).data


def test_refunds_full_partial_and_over_refund(
    stripe_client: stripe.StripeClient, paid_session: Any
) -> None:
    pi_id = paid_session.payment_intent
    partial = stripe_client.v1.refunds.create(params={"payment_intent": pi_id, "amount": 300})
    assert partial.id.startswith("re_")
    assert (partial.amount, partial.status, partial.payment_intent) == (300, "succeeded", pi_id)
    charge = stripe_client.v1.charges.retrieve(partial.charge)
    assert (charge.amount_refunded, charge.refunded) == (300, False)

    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.refunds.create(params={"payment_intent": pi_id, "amount": 800})
    assert info.value.code == "amount_too_large"
    assert info.value.param == "amount"
    assert "£8.00" in info.value.user_message
    assert "£7.00" in info.value.user_message

    # No amount: whatever remains, here by charge id.
    rest = stripe_client.v1.refunds.create(params={"charge": charge.id})
    assert rest.amount == 700
    charge = stripe_client.v1.charges.retrieve(charge.id)
    assert (charge.amount_refunded, charge.refunded) == (1000, True)
    assert [r.id for r in charge.refunds.data] == [rest.id, partial.id]

    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.refunds.create(params={"payment_intent": pi_id})
    assert info.value.code == "charge_already_refunded"

    assert stripe_client.v1.refunds.retrieve(partial.id).amount == 300
    listed = stripe_client.v1.refunds.list(params={"payment_intent": pi_id})
    assert [r.id for r in listed.data] == [rest.id, partial.id]


def test_refund_needs_a_successful_payment(
    stripe_client: stripe.StripeClient, make_session: Callable[..., Any], emulator: EmulatorServer
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.refunds.create(params={"payment_intent": "pi_missing"})
    assert (info.value.code, info.value.param) == ("resource_missing", "payment_intent")

    session = make_session()
    emulator.pay(session.id, method="bank_transfer")
    pi_id = stripe_client.v1.checkout.sessions.retrieve(session.id).payment_intent
    with pytest.raises(stripe.InvalidRequestError, match="does not have a successful charge"):
        stripe_client.v1.refunds.create(params={"payment_intent": pi_id})


def test_events_list_filters_pagination_and_retrieve(
    stripe_client: stripe.StripeClient, paid_session: Any
) -> None:
    stripe_client.v1.refunds.create(params={"payment_intent": paid_session.payment_intent})
    everything = stripe_client.v1.events.list(params={"limit": 100})
    types = [e.type for e in everything.data]
    assert types == [
        "charge.refunded",
        "refund.created",
        "checkout.session.completed",
        "payment_intent.succeeded",
        "charge.succeeded",
        "payment_intent.created",
    ]
    assert everything.url == "/v1/events"
    assert everything.has_more is False

    one = stripe_client.v1.events.list(params={"type": "charge.refunded"})
    assert [e.type for e in one.data] == ["charge.refunded"]
    several = stripe_client.v1.events.list(params={"types": ["refund.created", "charge.succeeded"]})
    assert [e.type for e in several.data] == ["refund.created", "charge.succeeded"]
    wildcard = stripe_client.v1.events.list(params={"type": "payment_intent.*"})
    assert len(wildcard.data) == 2

    now = int(time.time())
    assert stripe_client.v1.events.list(params={"created": {"gt": now + 100}}).data == []
    assert len(stripe_client.v1.events.list(params={"created": {"lte": now + 100}}).data) == 6
    # No endpoints configured: every event counts as delivered.
    assert len(stripe_client.v1.events.list(params={"delivery_success": True}).data) == 6
    assert stripe_client.v1.events.list(params={"delivery_success": False}).data == []

    page1 = stripe_client.v1.events.list(params={"limit": 4})
    assert page1.has_more is True
    page2 = stripe_client.v1.events.list(params={"limit": 4, "starting_after": page1.data[-1].id})
    assert [e.type for e in page2.data] == types[4:]
    assert page2.has_more is False
    previous = stripe_client.v1.events.list(params={"limit": 2, "ending_before": page2.data[0].id})
    assert [e.type for e in previous.data] == types[2:4]
    assert [e.type for e in everything.auto_paging_iter()] == types

    event = stripe_client.v1.events.retrieve(everything.data[0].id)
    assert event.type == "charge.refunded"
    assert event.api_version == stripe.api_version
    assert event.livemode is False
    assert event.request.id.startswith("req_")
    assert event.request.idempotency_key  # the SDK sends one with every POST


def test_event_objects_are_snapshots(stripe_client: stripe.StripeClient, paid_session: Any) -> None:
    stripe_client.v1.refunds.create(params={"payment_intent": paid_session.payment_intent})
    (succeeded,) = stripe_client.v1.events.list(params={"type": "charge.succeeded"}).data
    (refunded,) = stripe_client.v1.events.list(params={"type": "charge.refunded"}).data
    (completed,) = stripe_client.v1.events.list(params={"type": "checkout.session.completed"}).data
    assert succeeded.data.object.amount_refunded == 0
    assert refunded.data.object.amount_refunded == 1000
    assert refunded.data.previous_attributes["amount_refunded"] == 0
    assert completed.data.object.payment_status == "paid"
    # Payments from the hosted page or control API have no API request behind them.
    assert completed.request.id is None


def test_disputes_opened_and_closed_through_the_control_api(
    stripe_client: stripe.StripeClient, paid_session: Any, emulator: EmulatorServer
) -> None:
    dispute = emulator.dispute(payment_intent=paid_session.payment_intent, reason="fraudulent")
    assert dispute["id"].startswith("du_")
    assert (dispute["status"], dispute["amount"]) == ("needs_response", 1000)
    charge = stripe_client.v1.charges.retrieve(dispute["charge"])
    assert charge.disputed is True

    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.refunds.create(params={"payment_intent": paid_session.payment_intent})
    assert info.value.code == "charge_disputed"

    closed = emulator.close_dispute(dispute["id"], "lost")
    assert closed["status"] == "lost"
    assert stripe_client.v1.disputes.retrieve(dispute["id"]).status == "lost"
    types = [e.type for e in stripe_client.v1.events.list(params={"type": "charge.dispute.*"}).data]
    assert types == [
        "charge.dispute.closed",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.created",
    ]


def test_won_dispute_reinstates_funds(paid_session: Any, emulator: EmulatorServer,
                                      stripe_client: stripe.StripeClient) -> None:  # fmt: skip
    dispute = emulator.dispute(payment_intent=paid_session.payment_intent, amount=400)
    won = emulator.close_dispute(dispute["id"], "won")
    assert [t["amount"] for t in won["balance_transactions"]] == [-400, 400]
    types = [e.type for e in stripe_client.v1.events.list(params={"type": "charge.dispute.*"}).data]
    assert types[:2] == ["charge.dispute.closed", "charge.dispute.funds_reinstated"]
