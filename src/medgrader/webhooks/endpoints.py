"""HTTP: POST /api/webhooks/stripe. The hot path: raw body, no body model, few statements."""

from __future__ import annotations

import json

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response

from medgrader.core import metrics
from medgrader.core.context import AppContext
from medgrader.core.errors import error_response
from medgrader.webhooks.flows import deliver
from medgrader.webhooks.service import MalformedEvent, parse_event
from medgrader.webhooks.signature import InvalidSignature, verify_signature

log = structlog.get_logger(__name__)
router = APIRouter(tags=["webhooks"])

_RECEIVED = b'{"received":true}'


@router.post(
    "/api/webhooks/stripe",
    responses={
        200: {"description": 'Accepted (or already seen): `{"received": true}`'},
        400: {"description": "Bad or missing signature; nothing was written"},
        413: {"description": "Body over the size limit"},
        500: {"description": "Processing failed and was rolled back; Stripe retries"},
        502: {"description": "Stripe could not be asked about a refund or dispute; retried"},
    },
)
async def stripe_webhook(request: Request) -> Response:
    ctx: AppContext = request.app.state.context
    body = await request.body()
    try:
        verify_signature(
            body, request.headers.get("stripe-signature"), ctx.settings.webhook_secrets
        )
    except InvalidSignature as exc:
        log.warning("stripe webhook refused", reason=str(exc))
        metrics.WEBHOOK_EVENTS.labels(type="unverified", outcome="rejected").inc()
        return error_response(400, "Invalid Stripe signature.", "invalid_signature")
    try:
        event = parse_event(json.loads(body))
    except (ValueError, MalformedEvent) as exc:  # json.JSONDecodeError is a ValueError
        log.error("signed stripe webhook is not an event", detail=str(exc))
        metrics.WEBHOOK_EVENTS.labels(type="unparsed", outcome="invalid_payload").inc()
        return error_response(400, "The body is not a Stripe event.", "invalid_payload")

    raw = body.decode("utf-8")
    try:
        # One unit of work (webhooks.flows): refunds and disputes first ask Stripe what is true
        # now, with no connection held; then one transaction: inbox row, credit, payment,
        # session status, receipt job, processed_at. An exception rolls all of it back, is
        # recorded on the event, and the error handler answers 500 (502 if Stripe failed), so
        # Stripe's retry processes the event afresh. Pipeline mode batches the statements into
        # a few round trips (see medgrader.db.session).
        outcome = await deliver(ctx, event, raw)
    except Exception:
        metrics.WEBHOOK_EVENTS.labels(type=event.type, outcome="error").inc()
        raise
    # Counted once committed: the outcome is what the inbox row now records.
    metrics.WEBHOOK_EVENTS.labels(type=event.type, outcome=metrics.outcome_label(outcome)).inc()
    return Response(_RECEIVED, media_type="application/json")
