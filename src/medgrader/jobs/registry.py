"""Every domain's task blueprint, by namespace. Add a domain's blueprint here."""

from __future__ import annotations

import procrastinate

from medgrader.checkout.tasks import blueprint as checkout_blueprint
from medgrader.holds.tasks import blueprint as holds_blueprint
from medgrader.idempotency.tasks import blueprint as idempotency_blueprint
from medgrader.ledger.tasks import blueprint as ledger_blueprint
from medgrader.notifications.tasks import blueprint as notifications_blueprint
from medgrader.security.tasks import blueprint as security_blueprint
from medgrader.webhooks.tasks import blueprint as webhooks_blueprint

BLUEPRINTS: dict[str, procrastinate.Blueprint] = {
    "checkout": checkout_blueprint,
    "holds": holds_blueprint,
    "idempotency": idempotency_blueprint,
    "ledger": ledger_blueprint,
    "notifications": notifications_blueprint,
    "security": security_blueprint,
    "webhooks": webhooks_blueprint,
}
