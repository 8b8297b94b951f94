"""Every domain's task blueprint, by namespace. Add a domain's blueprint here."""

from __future__ import annotations

import procrastinate

BLUEPRINTS: dict[str, procrastinate.Blueprint] = {}
