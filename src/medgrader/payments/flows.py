"""The edge's side of an admin refund, shared by POST /api/admin/payments/{id}/refunds and the
payment page: the steps of payments.refunds around the Stripe call, through the idempotent
runner (idempotency.runner.start/finish).

First transaction: the key is claimed and the resolved request (the plan) stored, or a replay
answered. `external_call`: that transaction commits and Stripe is asked with no connection
held. Second transaction: the refund recorded with its credits, and the answer stored under
the key. A retry whose first attempt died between Stripe refunding and our commit finds the
plan with no answer, sends it again (Stripe answers with the refund it made under that key),
and answers 201 with that refund, whatever happened to the payment in between.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from medgrader.core.adapters.stripe_errors import StripeRefundRefused
from medgrader.core.context import AppContext
from medgrader.core.errors import Refusal
from medgrader.db.session import Db
from medgrader.db.transactions import external_call
from medgrader.idempotency import runner
from medgrader.idempotency.keys import validate_key
from medgrader.idempotency.runner import Answer, Done
from medgrader.idempotency.store import KeyedRequest
from medgrader.payments import refunds
from medgrader.payments.schemas import RefundOut
from medgrader.payments.service import parse_payment_id

REFUND_OPERATION = "admin.payment_refund"
REFUNDED = Answer[RefundOut](
    dump=lambda out: out.model_dump(mode="json", by_alias=True), load=RefundOut.model_validate
)


@dataclass(frozen=True)
class Refunded:
    refund: RefundOut
    # True: this call did nothing and gives the first answer under its Idempotency-Key again.
    replayed: bool = False


async def refund_payment(
    db: Db,
    ctx: AppContext,
    *,
    payment_id: uuid.UUID | str,
    admin_id: uuid.UUID,
    amount: int | None = None,
    reason: str | None = None,
    note: str | None = None,
    allow_negative_balance: bool = False,
    idempotency_key: str | None = None,
) -> Refunded:
    """Refund a payment (all that is left by default) and take its credits back.

    Raises PaymentNotFound, the key's BadRequest, a refusal (payment_disputed,
    amount_not_refundable, credits_already_spent, payment_not_refundable; one of our own,
    before Stripe is asked, leaves the key free for a corrected request; one of Stripe's is
    stored under the key and replayed), and the gateway's BadGateway when Stripe cannot
    answer (nothing is written then but the plan, which a retry sends again).
    """
    target = parse_payment_id(payment_id)
    key = validate_key(idempotency_key) if idempotency_key is not None else None

    async def plan() -> dict[str, Any]:
        resolved = await refunds.plan_refund(
            db, target, admin_id=admin_id, amount=amount, reason=reason, note=note,
            allow_negative_balance=allow_negative_balance, idempotency_key=key,
        )  # fmt: skip
        return resolved.dump()

    request = None
    if key is None:
        resolved = refunds.RefundPlan.load(await plan())
    else:
        payload = {"payment": str(target), "amount": amount, "reason": reason, "note": note,
                   "allowNegativeBalance": allow_negative_balance}  # fmt: skip
        request = KeyedRequest.of(
            operation=REFUND_OPERATION, owner_id=admin_id, key=key, payload=payload
        )
        started = await runner.start(db, request, plan, REFUNDED)
        if isinstance(started, Done):
            return Refunded(started.value, replayed=True)
        resolved = refunds.RefundPlan.load(started.plan)

    refusal: Refusal | None = None
    async with external_call(db):
        try:
            created = await resolved.send(ctx)
        except StripeRefundRefused as exc:
            refusal = refunds.stripe_refusal(exc)
    if refusal is not None:
        raise refusal if request is None else await runner.refuse(db, request, refusal)
    refund = await refunds.record_refund(db, resolved, created, admin_id=admin_id)
    if request is None:
        return Refunded(refund)
    return Refunded((await runner.finish(db, request, refund, REFUNDED)).value)
