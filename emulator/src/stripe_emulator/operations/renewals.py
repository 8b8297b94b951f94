"""Time passing for subscriptions: renewals, finalizations, retries, cancellations.

:func:`run_due` performs, in time order, everything that falls due up to ``until`` for
the subscriptions and invoices of one test clock (or of none: those live on the emulator's
own clock and are moved by the background sweep, ``POST /_emulator/clock`` and reads):

- a period ends with ``cancel_at`` reached: the subscription ends
  (``customer.subscription.deleted``);
- a period ends otherwise: the next one starts (``customer.subscription.updated`` with the
  items' new ``current_period_start|end``) and its invoice is created ``draft``
  (``invoice.created``, ``billing_reason=subscription_cycle``);
- an hour later: the invoice is finalized and charged (see :mod:`.invoices`);
- a failed invoice's ``next_payment_attempt`` comes: it is charged again; after the last
  retry fails, the subscription is canceled.

While an action runs, the test clock's ``frozen_time`` is the time it fell due, so every
object it creates carries that time; at the end the clock stands at ``until``.
"""

from __future__ import annotations

from collections.abc import Callable

from stripe_emulator.core import Emulator
from stripe_emulator.operations import schedules
from stripe_emulator.operations.invoices import (
    attempt_payment,
    create_invoice,
    finalize_invoice,
    give_up,
    subscription_of,
)
from stripe_emulator.operations.subscription_state import (
    emit_updated,
    end_subscription,
    period_of,
    set_period,
    unclocked_time,
)
from stripe_emulator.store import StripeObject

Action = tuple[int, int, Callable[[], None]]
# Each action moves an object forward for good; this many in one run means a bug.
MAX_ACTIONS = 10_000


def _end(emu: Emulator, sub: StripeObject) -> Callable[[], None]:
    def run() -> None:
        end_subscription(emu, sub, at=sub["cancel_at"], reason="cancellation_requested")

    return run


def _renew(emu: Emulator, sub: StripeObject) -> Callable[[], None]:
    def run() -> None:
        private = emu.store.private[sub["id"]]
        previous = {
            "items": {"data": [dict(item) for item in sub["items"]["data"]]},
            "latest_invoice": sub["latest_invoice"],
        }
        private["previous_period"] = period_of(emu, sub)
        end = private["previous_period"][1]
        if schedules.at_period_end(emu, sub, end):
            # The schedule's next phase bills another interval: a new cycle from here.
            previous["billing_cycle_anchor"] = sub["billing_cycle_anchor"]
            sub["billing_cycle_anchor"] = end
            set_period(emu, sub, 0)
        else:
            set_period(emu, sub, private["period_index"] + 1)
        invoice = create_invoice(emu, sub, reason="subscription_cycle", period=period_of(emu, sub))
        sub["latest_invoice"] = invoice["id"]
        emit_updated(emu, sub, previous)

    return run


def _finalize(emu: Emulator, invoice: StripeObject) -> Callable[[], None]:
    def run() -> None:
        finalize_invoice(emu, invoice)
        _charge(emu, invoice)

    return run


def _charge(emu: Emulator, invoice: StripeObject) -> None:
    if attempt_payment(emu, invoice) is not None and invoice["next_payment_attempt"] is None:
        give_up(emu, invoice)


def _due_actions(emu: Emulator, clock_id: str | None, until: int) -> list[Action]:
    actions: list[Action] = []
    for sub in emu.store.subscriptions.values():
        if sub["test_clock"] != clock_id or sub["status"] not in ("active", "past_due"):
            continue
        order = emu.store.order(sub["id"]) or 0
        end = period_of(emu, sub)[1]
        if sub["cancel_at"] is not None and sub["cancel_at"] <= until:
            actions.append((sub["cancel_at"], order, _end(emu, sub)))
        elif end <= until:
            actions.append((end, order, _renew(emu, sub)))
    for invoice in emu.store.invoices.values():
        if invoice["test_clock"] != clock_id:
            continue
        order = emu.store.order(invoice["id"]) or 0
        finalize_at = invoice["automatically_finalizes_at"]
        retry_at = invoice["next_payment_attempt"]
        if invoice["status"] == "draft" and finalize_at is not None and finalize_at <= until:
            actions.append((finalize_at, order, _finalize(emu, invoice)))
        elif (
            invoice["status"] == "open"
            and retry_at is not None
            and retry_at <= until
            and subscription_of(emu, invoice)["status"] != "canceled"
        ):
            actions.append((retry_at, order, lambda i=invoice: _charge(emu, i)))
    return actions


def run_due(emu: Emulator, clock_id: str | None, until: int) -> int:
    """Everything due up to ``until``, earliest first; returns how many actions ran."""
    clock = emu.store.test_clocks.get(clock_id or "")
    count = 0
    while True:
        actions = _due_actions(emu, clock_id, until)
        if not actions:
            break
        if count > MAX_ACTIONS:
            raise RuntimeError(f"billing did not settle after {MAX_ACTIONS} actions")
        at, _, run = min(actions, key=lambda a: (a[0], a[1]))
        if clock is not None:
            clock["frozen_time"] = max(clock["frozen_time"], at)
            run()
        else:
            with unclocked_time(at):
                run()
        count += 1
    if clock is not None:
        clock["frozen_time"] = until
    return count


def run_due_unclocked(emu: Emulator) -> int:
    """Renewals of subscriptions on no test clock, as the emulator's own time passes."""
    return run_due(emu, None, emu.now())
