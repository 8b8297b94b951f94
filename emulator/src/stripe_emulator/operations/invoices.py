"""Subscription invoices: created, finalized, paid or failed, retried.

Lifecycle, as Stripe runs it for ``collection_method=charge_automatically``:

- the first invoice (``subscription_create``) and an interval change's
  (``subscription_update``) are finalized and charged at once;
- a renewal's (``subscription_cycle``) is created ``draft`` at the end of the period
  (``invoice.created``), finalized an hour later (``invoice.finalized``, ``open``) and charged;
- paid: ``invoice_payment.paid``, ``invoice.paid``, ``invoice.payment_succeeded``; a
  subscription that was ``incomplete`` or ``past_due`` becomes ``active``;
- failed: ``invoice.payment_failed``, ``invoice.updated`` (``attempt_count``,
  ``next_payment_attempt``); the invoice stays ``open`` and an ``active`` subscription
  becomes ``past_due``. Retries follow a fixed schedule (3, 5 then 7 days after the previous
  attempt: Stripe's Smart Retries pick their own times); when the last one fails the
  subscription is canceled (``cancellation_details.reason=payment_failed``), Stripe's default
  for an account that has not changed its retry settings.
"""

from __future__ import annotations

import copy
from typing import Any

from stripe_emulator.core import Emulator, RequestContext
from stripe_emulator.errors import StripeError, no_such
from stripe_emulator.lists import created_matcher
from stripe_emulator.money import format_amount
from stripe_emulator.objects.invoice import (
    build_invoice,
    build_invoice_line,
    build_invoice_payment,
    set_amounts,
)
from stripe_emulator.operations.invoice_charges import (
    confirm_invoice_payment,
    invoice_payment_intent,
    payment_method_for,
)
from stripe_emulator.operations.subscription_state import (
    end_subscription,
    interval_of,
    items_of,
    now_for,
    set_status,
)
from stripe_emulator.params import as_enum, as_str, opt_str, refuse_given, reject_unknown
from stripe_emulator.periods import every
from stripe_emulator.store import StripeObject

DAY = 24 * 3600
FINALIZE_DELAY = 3600
RETRY_DELAYS = (3 * DAY, 5 * DAY, 7 * DAY)
STATUSES = {"draft", "open", "paid", "uncollectible", "void"}
LIST_PARAMS = {
    "collection_method", "created", "customer", "customer_account", "due_date",
    "ending_before", "expand", "limit", "starting_after", "status", "subscription",
}  # fmt: skip
PAY_PARAMS = {"expand", "forgive", "mandate", "off_session", "paid_out_of_band",
              "payment_method", "source"}  # fmt: skip


def get_invoice(emu: Emulator, invoice_id: str, param: str | None = None) -> StripeObject:
    invoice = emu.store.invoices.get(invoice_id)
    if invoice is None:
        raise no_such("invoice", invoice_id, param=param)
    return invoice


def subscription_of(emu: Emulator, invoice: StripeObject) -> StripeObject:
    return emu.store.subscriptions[invoice["parent"]["subscription_details"]["subscription"]]


def lines_of(emu: Emulator, invoice: StripeObject) -> list[StripeObject]:
    return [emu.store.invoice_lines[i] for i in emu.store.private[invoice["id"]]["lines"]]


def _line_description(emu: Emulator, item: StripeObject) -> str:
    price = item["price"]
    product = emu.store.products.get(price["product"]) or {}
    interval, count = interval_of(item)
    amount = format_amount(price["unit_amount"], price["currency"])
    name = product.get("name", price["product"])
    # As Stripe writes it: "1 <multiplication sign> Plan (at £10.00 / month)".
    return f"{item['quantity']} \u00d7 {name} (at {amount} / {every(interval, count)})"


def create_invoice(
    emu: Emulator, sub: StripeObject, *, reason: str, period: tuple[int, int]
) -> StripeObject:
    """A draft invoice billing ``sub``'s items for ``period`` (``invoice.created``).

    ``invoice.period_start|end`` are Stripe's "period of the pending invoice items": the
    previous period for a renewal, the creation time otherwise; each line's ``period``
    is the service period it bills.
    """
    now = now_for(emu, sub["test_clock"])
    customer = emu.store.customers[sub["customer"]]
    previous = _previous_period(emu, sub) if reason == "subscription_cycle" else (now, now)
    invoice = build_invoice(
        created=now,
        customer=customer,
        subscription=sub,
        billing_reason=reason,
        period_start=previous[0],
        period_end=previous[1],
    )
    lines = [
        build_invoice_line(
            invoice_id=invoice["id"],
            subscription_item=item,
            description=_line_description(emu, item),
            start=period[0],
            end=period[1],
        )
        for item in items_of(emu, sub)
    ]
    for line in lines:
        emu.store.add(line)
    invoice["lines"]["data"] = copy.deepcopy(lines)
    set_amounts(invoice, lines)
    if reason == "subscription_cycle":
        invoice["automatically_finalizes_at"] = now + FINALIZE_DELAY
    emu.store.add(invoice)
    emu.store.private[invoice["id"]] = {"lines": [line["id"] for line in lines]}
    emu.emit("invoice.created", invoice)
    return invoice


def _previous_period(emu: Emulator, sub: StripeObject) -> tuple[int, int]:
    private = emu.store.private[sub["id"]]
    return private.get("previous_period") or (sub["start_date"], sub["start_date"])


def finalize_invoice(emu: Emulator, invoice: StripeObject) -> StripeObject:
    """Draft to ``open``: numbered, payable, its PaymentIntent created."""
    now = now_for(emu, invoice["test_clock"])
    customer = emu.store.customers[invoice["customer"]]
    sequence = customer["next_invoice_sequence"]
    customer["next_invoice_sequence"] = sequence + 1
    invoice.update(
        status="open",
        number=f"{customer['invoice_prefix']}-{sequence:04d}",
        effective_at=now,
        hosted_invoice_url=f"{emu.config.base_url}/i/{invoice['id']}",
        automatically_finalizes_at=None,
    )
    invoice["status_transitions"]["finalized_at"] = now
    pi = invoice_payment_intent(emu, invoice)
    payment = build_invoice_payment(created=now, invoice=invoice, payment_intent_id=pi["id"])
    emu.store.add(payment)
    emu.store.private[invoice["id"]]["payment"] = payment["id"]
    emu.emit("invoice.finalized", invoice)
    return invoice


def invoice_payment_of(emu: Emulator, invoice: StripeObject) -> StripeObject | None:
    payment_id = emu.store.private.get(invoice["id"], {}).get("payment")
    return emu.store.invoice_payments.get(payment_id or "")


def attempt_payment(
    emu: Emulator,
    invoice: StripeObject,
    *,
    payment_method: StripeObject | None = None,
    on_page: bool = False,
) -> StripeError | None:
    """Charge an open invoice once: None when it is paid, else why not (a card error).

    ``on_page``: the customer is paying on Checkout's page (3D Secure done there)."""
    payment = invoice_payment_of(emu, invoice)
    assert payment is not None, "only a finalized invoice is charged"
    pi = emu.store.payment_intents[payment["payment"]["payment_intent"]]
    pm = payment_method or payment_method_for(emu, invoice)
    previous = {"attempt_count": invoice["attempt_count"], "attempted": invoice["attempted"],
                "next_payment_attempt": invoice["next_payment_attempt"]}  # fmt: skip
    invoice["attempted"] = True
    invoice["attempt_count"] += 1
    if pm is None:
        error: StripeError | None = StripeError(
            "This customer has no attached payment source or default payment method."
        )
    else:
        error = confirm_invoice_payment(emu, pi, pm, on_page=on_page)
    if error is None:
        _paid(emu, invoice, payment, pi)
    else:
        _failed(emu, invoice, previous)
    return error


def _paid(emu: Emulator, invoice: StripeObject, payment: StripeObject, pi: StripeObject) -> None:
    now = now_for(emu, invoice["test_clock"])
    payment.update(amount_paid=pi["amount_received"], status="paid")
    payment["status_transitions"]["paid_at"] = now
    invoice.update(
        status="paid",
        amount_paid=invoice["amount_paid"] + pi["amount_received"],
        amount_remaining=0,
        next_payment_attempt=None,
    )
    invoice["status_transitions"]["paid_at"] = now
    emu.emit("invoice_payment.paid", payment)
    emu.emit("invoice.paid", invoice)
    emu.emit("invoice.payment_succeeded", invoice)
    sub = subscription_of(emu, invoice)
    if sub["status"] in ("incomplete", "past_due", "unpaid"):
        set_status(emu, sub, "active")


def _failed(emu: Emulator, invoice: StripeObject, previous: dict[str, Any]) -> None:
    now = now_for(emu, invoice["test_clock"])
    retries_left = invoice["attempt_count"] <= len(RETRY_DELAYS)
    automatic = invoice["billing_reason"] != "subscription_create"
    if automatic and retries_left:
        invoice["next_payment_attempt"] = now + RETRY_DELAYS[invoice["attempt_count"] - 1]
    else:
        invoice["next_payment_attempt"] = None
    emu.emit("invoice.payment_failed", invoice)
    emu.emit("invoice.updated", invoice, previous_attributes=previous)
    sub = subscription_of(emu, invoice)
    if sub["status"] == "active":
        set_status(emu, sub, "past_due")


def give_up(emu: Emulator, invoice: StripeObject) -> None:
    """Every retry failed: the subscription is canceled, the invoice stays open."""
    sub = subscription_of(emu, invoice)
    if sub["status"] != "canceled":
        at = now_for(emu, sub["test_clock"])
        end_subscription(emu, sub, at=at, reason="payment_failed")


def pay_invoice(
    emu: Emulator, invoice_id: str, params: dict[str, Any], ctx: RequestContext
) -> StripeObject:
    """``POST /v1/invoices/{id}/pay``: charge an open invoice now (402 on a decline)."""
    del ctx  # the events of a payment attempt carry no request, as on Stripe
    reject_unknown(params, PAY_PARAMS)
    refuse_given(params, {"forgive", "mandate", "paid_out_of_band", "source"})
    invoice = get_invoice(emu, invoice_id)
    if invoice["status"] == "paid":
        raise StripeError("Invoice is already paid", code="invoice_already_paid")
    if invoice["status"] == "draft":
        finalize_invoice(emu, invoice)
    if invoice["status"] != "open":
        raise StripeError(
            f"You can only pay an open invoice (this one is {invoice['status']}).",
            code="invoice_not_editable",
        )
    pm = None
    pm_id = opt_str(params.get("payment_method"), "payment_method")
    if pm_id:
        pm = emu.store.payment_methods.get(pm_id)
        if pm is None or pm.get("customer") != invoice["customer"]:
            raise no_such("payment_method", pm_id, param="payment_method")
    elif payment_method_for(emu, invoice) is None:
        raise StripeError(
            "This customer has no attached payment source or default payment method. "
            "Please consider adding a default payment method.",
            param="payment_method",
        )
    error = attempt_payment(emu, invoice, payment_method=pm)
    if error is not None:
        raise error  # the 402 card_error, as Stripe answers a declined /pay
    return invoice


def list_invoices(emu: Emulator, params: dict[str, Any]) -> list[StripeObject]:
    reject_unknown(params, LIST_PARAMS)
    created = created_matcher(params.get("created"))
    status = as_enum(params["status"], "status", STATUSES) if "status" in params else None
    sub_id = as_str(params["subscription"], "subscription") if "subscription" in params else None
    return [
        i
        for i in emu.store.invoices.values()
        if created(i["created"])
        and (status is None or i["status"] == status)
        and ("customer" not in params or i["customer"] == params["customer"])
        and (sub_id is None or i["parent"]["subscription_details"]["subscription"] == sub_id)
    ]
