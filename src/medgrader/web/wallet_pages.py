"""The student's wallet: balance, history, packages and Buy, payments, and the pages Stripe
returns the buyer to (/credits/success, /credits/cancel)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from medgrader.auth.users import User
from medgrader.catalog import service as catalog
from medgrader.catalog.errors import PackageNotFound
from medgrader.checkout import answers as checkout_answers
from medgrader.checkout import service as checkout
from medgrader.checkout.errors import CheckoutNotFound
from medgrader.checkout.flows import refresh_pending, start_checkout
from medgrader.checkout.schemas import CheckoutQuote
from medgrader.core.deps import Ctx, RequestDb
from medgrader.core.errors import AppError
from medgrader.core.statuses import status_of
from medgrader.credits import service as credits
from medgrader.db.session import Db
from medgrader.documents import service as documents
from medgrader.payments import service as payments
from medgrader.promotions import offers
from medgrader.promotions.schemas import RedeemRequest
from medgrader.subscriptions import flows as subscription_flows
from medgrader.subscriptions import plans as subscription_plans
from medgrader.subscriptions import repository as subscriptions
from medgrader.subscriptions.errors import PlanNotFound
from medgrader.topups import service as top_ups
from medgrader.web.deps import Csrf, Form, PageStudent, PageUser
from medgrader.web.forms import FormInvalid, validated
from medgrader.web.rendering import redirect, render
from medgrader.web.top_up_panel import top_up_package_names

router = APIRouter(include_in_schema=False)
HISTORY_PAGE = 20
PAYMENTS_SHOWN = 20
Cursor = Annotated[str | None, Query(max_length=200)]

OUTCOMES = {
    "COMPLETED": "Payment received: your credits have been added.",
    "PENDING": "Waiting for the payment to settle. This page will show it when it does.",
    "EXPIRED": "This checkout session expired unpaid. Nothing was charged.",
    "FAILED": "The payment failed. Nothing was charged.",
}


async def _offers(db: Db, user: User, packages: list[Any]) -> dict[Any, CheckoutQuote]:
    """The auto-apply offer the student is eligible for, per package (none: not shown)."""
    shown = {}
    for package in packages:
        try:
            figures = await checkout.preview_checkout(db, user, package.id, None)
        except AppError:
            continue
        if figures.promotion_code is not None:
            shown[package.id] = figures
    return shown


async def wallet_page(
    request: Request,
    db: Db,
    user: User,
    *,
    cursor: str | None = None,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    balances = await credits.get_balances(db, user.id)
    packages = await catalog.list_packages(db)
    plan_list = await subscription_plans.list_plans(db)
    return render(
        request,
        "wallet.html",
        status,
        balance=balances.balance,
        held=balances.held,
        available=balances.available,
        paid=balances.paid,
        granted=balances.granted,
        expiring=balances.expiring,
        history=await credits.list_transactions(db, user.id, limit=HISTORY_PAGE, cursor=cursor),
        packages=packages,
        package_names=await top_up_package_names(db, packages),
        top_up=await top_ups.settings_out(db, user.id),
        offers=await _offers(db, user, packages),
        plans=plan_list,
        subscription=await subscriptions.current_for_student(db, user.id),
        # One key per rendered form: a resubmitted form is the same redemption.
        redeem_key=str(uuid.uuid4()),
        notice=notice,
        payments=(
            await payments.list_payments(db, limit=PAYMENTS_SHOWN, cursor=None, student_id=user.id)
        ).items,
        error=error,
    )


@router.get("/wallet")
async def wallet(
    request: Request, user: PageStudent, db: RequestDb, cursor: Cursor = None
) -> Response:
    return await wallet_page(request, db, user, cursor=cursor)


@router.get("/wallet/history")
async def history_page(
    request: Request, user: PageStudent, db: RequestDb, cursor: Cursor = None
) -> Response:
    """The next page of history rows, for the wallet's "Older entries" button (HTMX)."""
    history = await credits.list_transactions(db, user.id, limit=HISTORY_PAGE, cursor=cursor)
    return render(request, "partials/history_rows.html", history=history)


@router.post("/wallet/buy", dependencies=[Csrf])
async def buy(request: Request, user: PageStudent, db: RequestDb, ctx: Ctx, form: Form) -> Response:
    """Create the Checkout Session (the same flow as POST /api/payments/credit-checkout)
    and send the browser to Stripe's page."""
    try:
        package_id = uuid.UUID(form.get("package_id", ""))
    except ValueError:
        raise PackageNotFound() from None
    code = form.get("promotion_code", "").strip() or None
    try:
        if code is not None:
            validated(RedeemRequest, {"code": code})  # the API's own rule for a code
        created = await start_checkout(db, ctx, user, package_id, code)
    except FormInvalid as exc:
        return await wallet_page(request, db, user, error=f"Promotion {exc.message}", status=422)
    except AppError as exc:
        return await wallet_page(request, db, user, error=exc.message, status=status_of(exc))
    return redirect(request, created.session_url)


@router.post("/wallet/subscribe", dependencies=[Csrf])
async def subscribe(
    request: Request, user: PageStudent, db: RequestDb, ctx: Ctx, form: Form
) -> Response:
    """Subscribe to a plan (the same flow as POST /api/subscriptions/checkout): off to
    Stripe's page."""
    try:
        plan_id = uuid.UUID(form.get("plan_id", ""))
    except ValueError:
        raise PlanNotFound() from None
    try:
        created = await subscription_flows.start_checkout(db, ctx, user, plan_id)
    except AppError as exc:
        return await wallet_page(request, db, user, error=exc.message, status=status_of(exc))
    return redirect(request, created.session_url)


SUBSCRIPTION_NOTICES = {
    "cancel": "Your plan will end at the end of this period.",
    "resume": "Your plan renews as before.",
    "change": "Your new plan starts at the next renewal.",
}


@router.post("/wallet/subscription/{action}", dependencies=[Csrf])
async def manage_subscription(
    request: Request, action: str, user: PageStudent, db: RequestDb, ctx: Ctx, form: Form
) -> Response:
    """Cancel / Resume / Change plan (the API's own flows), or Manage card (the portal)."""
    try:
        if action == "portal":
            return redirect(request, await subscription_flows.portal_url(db, ctx, user))
        if action == "change":
            try:
                plan_id = uuid.UUID(form.get("plan_id", ""))
            except ValueError:
                raise PlanNotFound() from None
            await subscription_flows.change_plan(db, ctx, user, plan_id)
        elif action in ("cancel", "resume"):
            cancel = action == "cancel"
            await subscription_flows.set_cancel_at_period_end(db, ctx, user, cancel=cancel)
        else:
            raise PlanNotFound()
    except AppError as exc:
        return await wallet_page(request, db, user, error=exc.message, status=status_of(exc))
    return await wallet_page(request, db, user, notice=SUBSCRIPTION_NOTICES[action])


@router.get("/wallet/preview")
async def preview(
    request: Request,
    user: PageStudent,
    db: RequestDb,
    package_id: Annotated[str, Query(max_length=40)] = "",
    promotion_code: Annotated[str, Query(max_length=60)] = "",
) -> Response:
    """The live preview under a package's code field (HTMX): the figures the checkout would
    have with this code, or why the code does not apply. Writes nothing."""
    code = promotion_code.strip() or None
    figures, problem = None, None
    try:
        if code is not None:
            validated(RedeemRequest, {"code": code})
        figures = await checkout.preview_checkout(db, user, uuid.UUID(package_id), code)
    except ValueError:
        problem = "Codes are 4 to 40 letters, digits, - or _."
    except AppError as exc:
        problem = exc.message
    return render(request, "partials/promotion_preview.html", figures=figures, problem=problem)


@router.post("/wallet/redeem", dependencies=[Csrf])
async def redeem(request: Request, user: PageStudent, db: RequestDb, form: Form) -> Response:
    """Redeem a credit code (the same operation as POST /api/credits/redeem, under the form's
    key: a resubmitted form answers the same)."""
    try:
        body = validated(RedeemRequest, {"code": form.get("code", "").strip()})
        done = await offers.redeem_once(db, user.id, body.code, form.get("redeem_key", ""))
    except FormInvalid as exc:
        return await wallet_page(request, db, user, error=f"Code {exc.message}", status=422)
    except AppError as exc:
        return await wallet_page(request, db, user, error=exc.message, status=status_of(exc))
    added = f"{done.value.credits} credits added"
    if done.value.expires_at is not None:
        added += f" (they expire on {done.value.expires_at:%d %b %Y})"
    return await wallet_page(request, db, user, notice=added + ".")


@router.get("/credits/success")
async def success(
    request: Request, user: PageUser, db: RequestDb, ctx: Ctx, session_id: str = ""
) -> Response:
    """Where Stripe returns the buyer. Like the status endpoint: a PENDING session is asked
    about at Stripe (no connection held meanwhile) and fulfilled if paid. The owner sees the
    outcome; anyone else is told there is no such session."""
    row = await checkout_answers.find_session(db, user, session_id) if session_id else None
    if row is None or row.student_id != user.id:
        # Even an admin: the outcome page is the buyer's (admins have the back office).
        raise CheckoutNotFound()
    row = await refresh_pending(db, ctx, row)
    balance = await credits.get_balance(db, row.student_id)
    return render(
        request,
        "success.html",
        checkout=row,
        outcome=OUTCOMES[row.status],
        balance=balance,
        # The demo's mailbox, where the receipt lands (development only).
        mailbox=ctx.settings.dev_mailbox_dir is not None and not ctx.settings.is_production,
    )


@router.get("/subscriptions/success")
async def subscribed(request: Request, user: PageStudent, db: RequestDb, ctx: Ctx) -> Response:
    """Where Stripe returns a new subscriber: the subscription is checked with Stripe (the
    first period granted if paid, exactly once), then the wallet says so."""
    row = await subscriptions.current_for_student(db, user.id)
    if row is not None:
        row = await subscription_flows.refresh_incomplete(db, ctx, row)
    if row is not None and row.status == "ACTIVE":
        notice = "Thank you: your plan has started and its credits are in your wallet."
    else:
        notice = "Thank you: your plan starts as soon as Stripe confirms the payment."
    return await wallet_page(request, db, user, notice=notice)


@router.get("/credits/cancel")
async def cancel(request: Request, _: PageUser) -> Response:
    return render(request, "cancel.html")


@router.get("/dashboard")
async def dashboard(request: Request) -> Response:
    # The receipt email's "your dashboard" link.
    return redirect(request, "/wallet")


@router.get("/wallet/payments/{payment_id}")
async def payment(request: Request, payment_id: str, user: PageStudent, db: RequestDb) -> Response:
    """The student's own payment with its refunds (the service answers 404 for others')."""
    found = await payments.get_payment(db, user, payment_id)
    issued = await documents.payment_documents(db, user, found.id)
    return render(request, "wallet_payment.html", payment=found, documents=issued)
