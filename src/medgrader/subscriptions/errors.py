"""The refusals of plans and subscriptions (their statuses: core.statuses)."""

from __future__ import annotations

from medgrader.core.errors import Conflict, NotFound, Unprocessable


class PlanNotFound(NotFound):
    code, message = "plan_not_found", "No such plan."


class PlanNameTaken(Conflict):
    code, message = "plan_name_taken", "Another plan already has this name."


class PlanInUse(Conflict):
    code, message = (
        "plan_in_use",
        "This plan has had subscribers: its price, credits and interval cannot change; make a"
        " new plan.",
    )


class PlanNotAvailable(Unprocessable):
    code, message = "plan_not_available", "This plan takes no new subscribers."


class AlreadySubscribed(Conflict):
    code, message = "already_subscribed", "You already have a subscription."


class NoSubscription(NotFound):
    code, message = "no_subscription", "You have no subscription."


class SubscriptionNotActive(Conflict):
    code, message = (
        "subscription_not_active",
        "This subscription cannot be changed now (it is not started yet or already canceled).",
    )


class PlanUnchanged(Unprocessable):
    code, message = "plan_unchanged", "This is already your plan."
