"""The control API under ``/_emulator/``: what a test or demo does *as Stripe*.

Plain JSON in and out, no authentication. Errors use Stripe's error shape.

==========================================================  ===================================
``POST /_emulator/checkout/sessions/{id}/pay``              ``{"card": "4242..."}`` (optional
                                                            ``expiry`` "MM/YY") or
                                                            ``{"method": "bank_transfer"}``,
                                                            optional ``email``, ``name``
                                                            -> the session; a decline is 402
                                                            (setup mode: saves the card)
``POST /_emulator/checkout/sessions/{id}/settle``           ``{"outcome": "succeeded"|"failed"}``
``POST /_emulator/checkout/sessions/{id}/expire``           -> the session
``POST /_emulator/refunds``                                 ``{"payment_intent"|"charge",
                                                            "amount"?, "reason"?, "metadata"?}``
                                                            -> the refund (as a Dashboard
                                                            refund: events without request)
``POST /_emulator/refunds/{id}/succeed``                    a pending refund succeeds
``POST /_emulator/refunds/{id}/fail``                       ``{"failure_reason"?}``: a pending
                                                            or succeeded refund fails
``POST /_emulator/disputes``                                ``{"payment_intent"|"charge",
                                                            "amount"?, "reason"?}``
``POST /_emulator/disputes/{id}/submit_evidence``           ``{"evidence"?: {field: text}}``
                                                            -> ``under_review``
``POST /_emulator/disputes/{id}/close``                     ``{"outcome": "won"|"lost"}``
``POST /_emulator/events/{id}/resend``                      ``{"endpoint"?: id or url}``
``GET  /_emulator/deliveries``                              ``?event_id=&type=&endpoint=&ok=``
``POST /_emulator/wait``                                    ``{"timeout"?: seconds}``: test
                                                            clocks done advancing, then -> 200
                                                            ``{"idle": true}`` or 408
``POST /_emulator/reset``                                   ``{"webhook_endpoints"?: [...]}``
``GET|POST /_emulator/webhook_endpoints``                   ``{"url", "secret"?,
                                                            "secondary_secret"?,
                                                            "enabled_events"?}``
``DELETE /_emulator/webhook_endpoints/{id}``
``GET|POST|DELETE /_emulator/faults``                       ``{"endpoint"?: id or url, ...}``
                                                            see :mod:`.webhooks.faults`
``GET|POST /_emulator/clock``                               ``{"advance": seconds}``: expires
                                                            due sessions, settles or fails
                                                            due refunds, renews subscriptions
                                                            on no test clock
``GET  /_emulator/health``
==========================================================  ===================================
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request

from stripe_emulator.config import WebhookEndpoint
from stripe_emulator.core import AUTOMATIC, Emulator
from stripe_emulator.errors import StripeError, no_such
from stripe_emulator.ids import new_webhook_secret
from stripe_emulator.operations import checkout, disputes, payments, refunds, renewals
from stripe_emulator.params import as_int, as_list, as_str, opt_str
from stripe_emulator.responses import StripeJSONResponse
from stripe_emulator.webhooks.dispatcher import ALL_ENDPOINTS
from stripe_emulator.webhooks.faults import Faults

router = APIRouter(prefix="/_emulator")


def _emu(request: Request) -> Emulator:
    return request.app.state.emulator


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise StripeError(f"Invalid JSON body: {exc}") from exc
    if not isinstance(data, dict):
        raise StripeError("The JSON body must be an object.")
    return data


@router.get("/health")
async def health() -> dict[str, bool]:
    return {"ok": True}


@router.post("/checkout/sessions/{session_id}/pay")
async def pay(request: Request, session_id: str) -> StripeJSONResponse:
    body = await _body(request)
    method = opt_str(body.get("method"), "method") or "card"
    email = opt_str(body.get("email"), "email")
    name = opt_str(body.get("name"), "name")
    emu = _emu(request)
    if method in ("bank_transfer", "bank_debit"):
        session = payments.pay_with_bank_debit(emu, session_id, email=email, name=name)
    elif method == "card":
        card = as_str(body.get("card", "4242424242424242"), "card")
        expiry = opt_str(body.get("expiry"), "expiry")
        session = payments.pay_with_card(
            emu, session_id, card, email=email, name=name, expiry=expiry
        )
    else:
        raise StripeError("method must be 'card' or 'bank_transfer'", param="method")
    return StripeJSONResponse(session)


@router.post("/checkout/sessions/{session_id}/settle")
async def settle(request: Request, session_id: str) -> StripeJSONResponse:
    body = await _body(request)
    outcome = as_str(body.get("outcome", "succeeded"), "outcome")
    return StripeJSONResponse(payments.settle(_emu(request), session_id, outcome))


@router.post("/checkout/sessions/{session_id}/expire")
async def expire(request: Request, session_id: str) -> StripeJSONResponse:
    emu = _emu(request)
    session = checkout.expire_session(emu, checkout.get_session(emu, session_id), AUTOMATIC)
    return StripeJSONResponse(session)


@router.post("/refunds")
async def refund(request: Request) -> StripeJSONResponse:
    body = await _body(request)
    return StripeJSONResponse(refunds.create_refund(_emu(request), body, AUTOMATIC))


@router.post("/refunds/{refund_id}/succeed")
async def succeed_refund(request: Request, refund_id: str) -> StripeJSONResponse:
    return StripeJSONResponse(refunds.succeed_refund(_emu(request), refund_id))


@router.post("/refunds/{refund_id}/fail")
async def fail_refund(request: Request, refund_id: str) -> StripeJSONResponse:
    body = await _body(request)
    reason = opt_str(body.get("failure_reason"), "failure_reason")
    return StripeJSONResponse(refunds.fail_refund(_emu(request), refund_id, reason))


@router.post("/disputes")
async def dispute(request: Request) -> StripeJSONResponse:
    body = await _body(request)
    return StripeJSONResponse(disputes.create_dispute(_emu(request), body))


@router.post("/disputes/{dispute_id}/submit_evidence")
async def submit_evidence(request: Request, dispute_id: str) -> StripeJSONResponse:
    body = await _body(request)
    evidence = body.get("evidence")
    return StripeJSONResponse(disputes.submit_evidence(_emu(request), dispute_id, evidence))


@router.post("/disputes/{dispute_id}/close")
async def close_dispute(request: Request, dispute_id: str) -> StripeJSONResponse:
    body = await _body(request)
    outcome = as_str(body.get("outcome", ""), "outcome")
    return StripeJSONResponse(disputes.close_dispute(_emu(request), dispute_id, outcome))


@router.post("/events/{event_id}/resend")
async def resend(request: Request, event_id: str) -> StripeJSONResponse:
    body = await _body(request)
    emu = _emu(request)
    event = emu.store.events.get(event_id)
    if event is None:
        raise no_such("event", event_id)
    ref = opt_str(body.get("endpoint"), "endpoint")
    if ref:
        endpoint = emu.webhooks.find_endpoint(ref)
        if endpoint is None:
            raise StripeError(f"No such webhook endpoint: '{ref}'", status=404, param="endpoint")
        targets = [endpoint]
    else:
        targets = emu.webhooks.targets(event["type"])
    emu.webhooks.resend(event, targets)
    return StripeJSONResponse({"event": event_id, "endpoints": [e.id for e in targets]})


@router.get("/deliveries")
async def deliveries(
    request: Request,
    event_id: str | None = None,
    type: str | None = None,
    endpoint: str | None = None,
    ok: bool | None = None,
) -> StripeJSONResponse:
    entries = _emu(request).webhooks.log.query(
        event_id=event_id, event_type=type, endpoint=endpoint, ok=ok
    )
    return StripeJSONResponse({"object": "list", "data": [e.as_dict() for e in entries]})


@router.post("/wait")
async def wait(request: Request) -> StripeJSONResponse:
    body = await _body(request)
    timeout = float(body.get("timeout", 10))
    emu = _emu(request)
    # Work still running after its request (a test clock advancing) makes more events.
    await emu.settle()
    idle = await emu.webhooks.wait_idle(timeout)
    result = {"idle": idle, "pending": emu.webhooks.pending}
    return StripeJSONResponse(result, status_code=200 if idle else 408)


def _endpoint(data: Any) -> WebhookEndpoint:
    if not isinstance(data, dict):
        raise StripeError("A webhook endpoint must be an object with a url.")
    url = as_str(data.get("url", ""), "url")
    if not url.startswith(("http://", "https://")):
        raise StripeError(f"Not a valid URL: {url!r}", param="url")
    events = [
        as_str(e, "enabled_events")
        for e in as_list(data.get("enabled_events", ["*"]), "enabled_events")
    ]
    return WebhookEndpoint(
        url=url,
        secret=opt_str(data.get("secret"), "secret") or new_webhook_secret(),
        secondary_secret=opt_str(data.get("secondary_secret"), "secondary_secret"),
        enabled_events=events or ["*"],
    )


@router.post("/reset")
async def reset(request: Request) -> StripeJSONResponse:
    body = await _body(request)
    endpoints = None
    if "webhook_endpoints" in body:
        endpoints = [_endpoint(e) for e in as_list(body["webhook_endpoints"], "webhook_endpoints")]
    emu = _emu(request)
    emu.reset(endpoints)
    return StripeJSONResponse(
        {"ok": True, "webhook_endpoints": [e.as_dict() for e in emu.webhooks.endpoints]}
    )


@router.get("/webhook_endpoints")
async def list_endpoints(request: Request) -> StripeJSONResponse:
    data = [e.as_dict() for e in _emu(request).webhooks.endpoints]
    return StripeJSONResponse({"object": "list", "data": data})


@router.post("/webhook_endpoints")
async def add_endpoint(request: Request) -> StripeJSONResponse:
    endpoint = _emu(request).webhooks.add_endpoint(_endpoint(await _body(request)))
    return StripeJSONResponse(endpoint.as_dict())


@router.delete("/webhook_endpoints/{endpoint_id}")
async def remove_endpoint(request: Request, endpoint_id: str) -> StripeJSONResponse:
    if not _emu(request).webhooks.remove_endpoint(endpoint_id):
        raise StripeError(f"No such webhook endpoint: '{endpoint_id}'", status=404)
    return StripeJSONResponse({"id": endpoint_id, "deleted": True})


@router.get("/faults")
async def list_faults(request: Request) -> StripeJSONResponse:
    faults = _emu(request).webhooks.faults
    return StripeJSONResponse({key: state.as_dict() for key, state in faults.items()})


@router.post("/faults")
async def set_faults(request: Request) -> StripeJSONResponse:
    body = await _body(request)
    emu = _emu(request)
    ref = body.pop("endpoint", None)
    key = ALL_ENDPOINTS
    if ref not in (None, "", ALL_ENDPOINTS):
        endpoint = emu.webhooks.find_endpoint(as_str(ref, "endpoint"))
        if endpoint is None:
            raise StripeError(f"No such webhook endpoint: '{ref}'", status=404, param="endpoint")
        key = endpoint.id
    state = emu.webhooks.set_faults(key, Faults.from_json(body))
    return StripeJSONResponse({"endpoint": key, **state.as_dict()})


@router.delete("/faults")
async def clear_faults(request: Request) -> StripeJSONResponse:
    _emu(request).webhooks.clear_faults()
    return StripeJSONResponse({"ok": True})


@router.get("/clock")
async def get_clock(request: Request) -> StripeJSONResponse:
    emu = _emu(request)
    return StripeJSONResponse({"now": emu.now(), "offset": emu.clock.offset})


@router.post("/clock")
async def advance_clock(request: Request) -> StripeJSONResponse:
    body = await _body(request)
    emu = _emu(request)
    emu.clock.advance(as_int(body.get("advance", 0), "advance", minimum=0))
    # Moving time may pass some sessions' expires_at and some refunds' delays; act on
    # them now, not lazily.
    expired = checkout.expire_due_sessions(emu)
    changed = refunds.run_due_refunds(emu)
    billed = renewals.run_due_unclocked(emu)
    return StripeJSONResponse(
        {
            "now": emu.now(),
            "offset": emu.clock.offset,
            "expired": expired,
            "refunds": changed,
            "subscriptions": billed,
        }
    )
