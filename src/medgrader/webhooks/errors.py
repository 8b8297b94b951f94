"""The refusals of the webhook inbox's admin side (their statuses: core.statuses)."""

from __future__ import annotations

from medgrader.core.errors import Conflict, NotFound


class WebhookEventNotFound(NotFound):
    code, message = "webhook_event_not_found", "No such webhook event."


class AlreadyProcessed(Conflict):
    code, message = "already_processed", "This event has already been processed."
