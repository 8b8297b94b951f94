"""The refusals about an Idempotency-Key itself (their statuses: core.statuses)."""

from __future__ import annotations

from medgrader.core.errors import AppError, BadRequest


class IdempotencyKeyRequired(BadRequest):
    code = "idempotency_key_required"
    message = "This operation needs an Idempotency-Key header (8-255 visible ASCII characters)."


class InvalidIdempotencyKey(BadRequest):
    code = "invalid_idempotency_key"
    message = "The Idempotency-Key header must be 8-255 visible ASCII characters."


class IdempotencyKeyReused(AppError):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was already used for a different request."


class RequestInProgress(AppError):
    code = "request_in_progress"
    message = "A request with this Idempotency-Key is still being processed."
