"""``/v1/invoices`` (subscriptions create them) and ``/v1/invoice_payments``."""

from __future__ import annotations

from fastapi import APIRouter, Request

from stripe_emulator.api.deps import (
    PAGINATION,
    context,
    emulator,
    read_params,
    respond,
    respond_list,
)
from stripe_emulator.errors import no_such
from stripe_emulator.lists import created_matcher
from stripe_emulator.operations import invoices as ops
from stripe_emulator.operations.renewals import run_due_unclocked
from stripe_emulator.params import as_dict, as_enum, reject_unknown
from stripe_emulator.responses import StripeJSONResponse

router = APIRouter()


@router.get("/invoices")
async def list_(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    emu = emulator(request)
    run_due_unclocked(emu)
    return respond_list(request, ops.list_invoices(emu, params), params, "/v1/invoices")


@router.get("/invoices/{invoice_id}")
async def retrieve(request: Request, invoice_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, {"expand"})
    emu = emulator(request)
    run_due_unclocked(emu)
    return respond(request, ops.get_invoice(emu, invoice_id), params)


@router.get("/invoices/{invoice_id}/lines")
async def lines(request: Request, invoice_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, PAGINATION)
    emu = emulator(request)
    invoice = ops.get_invoice(emu, invoice_id)
    url = f"/v1/invoices/{invoice_id}/lines"
    return respond_list(request, ops.lines_of(emu, invoice), params, url, oldest_first=True)


@router.post("/invoices/{invoice_id}/pay")
async def pay(request: Request, invoice_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    invoice = ops.pay_invoice(emulator(request), invoice_id, params, context(request))
    return respond(request, invoice, params)


@router.get("/invoice_payments")
async def list_payments(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, PAGINATION | {"created", "invoice", "payment", "status"})
    created = created_matcher(params.get("created"))
    payment = as_dict(params.get("payment", {}), "payment")
    reject_unknown(payment, {"payment_intent", "payment_record", "type"}, "payment")
    status = params.get("status")
    if status is not None:
        status = as_enum(status, "status", {"canceled", "open", "paid"})
    items = [
        p
        for p in emulator(request).store.invoice_payments.values()
        if created(p["created"])
        and ("invoice" not in params or p["invoice"] == params["invoice"])
        and (status is None or p["status"] == status)
        and ("type" not in payment or p["payment"]["type"] == payment["type"])
        and (
            "payment_intent" not in payment
            or p["payment"].get("payment_intent") == payment["payment_intent"]
        )
    ]
    return respond_list(request, items, params, "/v1/invoice_payments")


@router.get("/invoice_payments/{payment_id}")
async def retrieve_payment(request: Request, payment_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, {"expand"})
    payment = emulator(request).store.invoice_payments.get(payment_id)
    if payment is None:
        raise no_such("invoice_payment", payment_id)
    return respond(request, payment, params)
