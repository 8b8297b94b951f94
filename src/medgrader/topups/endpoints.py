"""HTTP: /api/credits/payment-methods (saved cards) and /api/credits/auto-top-up (students).

The endpoints that ask Stripe commit their first transaction (the token check and the reads)
before the call and hold no connection during it (topups.flows).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Path, Response, status
from starlette.convertors import Convertor, register_url_convertor

from medgrader.auth.deps import CurrentStudent
from medgrader.checkout.schemas import CheckoutCreated
from medgrader.core.deps import Ctx, RequestDb
from medgrader.core.openapi import errors
from medgrader.topups import flows, service
from medgrader.topups.schemas import AutoTopUpIn, AutoTopUpOut, PaymentMethodOut, SetupCreated

router = APIRouter(prefix="/api/credits", tags=["auto-top-up"])


class PaymentMethodIdConvertor(Convertor[str]):
    """A Stripe PaymentMethod id in a path: `/payment-methods/setup` is then the setup route
    alone (a DELETE there is no route at all, and OPTIONS says so)."""

    regex = r"pm_[A-Za-z0-9_]{1,252}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("payment_method", PaymentMethodIdConvertor())
PAYMENT_METHOD_ID = r"^pm_[A-Za-z0-9_]{1,252}$"
STRIPE_502 = "Stripe unreachable or refused; nothing was changed"


@router.post(
    "/payment-methods/setup",
    status_code=status.HTTP_201_CREATED,
    response_model=SetupCreated,
    responses=errors(429, 502, s429="rate_limited", s502=STRIPE_502),
)
async def setup_card(user: CurrentStudent, db: RequestDb, ctx: Ctx) -> SetupCreated:
    """A Stripe Checkout in setup mode: saves a card without buying."""
    return await flows.start_card_setup(db, ctx, user)


@router.get(
    "/payment-methods",
    response_model=list[PaymentMethodOut],
    responses=errors(502, s502=STRIPE_502),
)
async def list_cards(user: CurrentStudent, db: RequestDb, ctx: Ctx) -> list[PaymentMethodOut]:
    return await flows.list_cards(db, ctx, user)


@router.delete(
    "/payment-methods/{payment_method_id:payment_method}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(404, 502, s404="payment_method_not_found", s502=STRIPE_502),
)
async def remove_card(
    user: CurrentStudent,
    db: RequestDb,
    ctx: Ctx,
    payment_method_id: str = Path(pattern=PAYMENT_METHOD_ID),
) -> Response:
    """Detach the card at Stripe; automatic top-up goes off if it charged this card."""
    await flows.remove_card(db, ctx, user, payment_method_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/auto-top-up", response_model=AutoTopUpOut)
async def get_settings(user: CurrentStudent, db: RequestDb) -> AutoTopUpOut:
    return await service.settings_out(db, user.id)


@router.put(
    "/auto-top-up",
    response_model=AutoTopUpOut,
    responses=errors(
        404,
        409,
        422,
        502,
        s404="package_not_found or payment_method_not_found",
        s409="no_saved_card",
        s422="top_up_package_inactive, monthly_limit_below_price or validation_error",
        s502=STRIPE_502,
    ),
)
async def put_settings(
    body: AutoTopUpIn, user: CurrentStudent, db: RequestDb, ctx: Ctx
) -> AutoTopUpOut:
    return await flows.put_settings(db, ctx, user, body)


@router.post(
    "/auto-top-up/attempts/{attempt_id}/checkout",
    status_code=status.HTTP_201_CREATED,
    response_model=CheckoutCreated,
    responses=errors(
        404, 409, 502, s404="top_up_attempt_not_found", s409="top_up_not_recoverable",
        s502=STRIPE_502,
    ),
)  # fmt: skip
async def recover_attempt(
    attempt_id: uuid.UUID, user: CurrentStudent, db: RequestDb, ctx: Ctx
) -> CheckoutCreated:
    """The failure email's link: an on-session Checkout for the failed attempt's package
    (one per attempt)."""
    return await flows.recover(db, ctx, user, attempt_id)
