"""Keeping an emulator's objects in a JSON file across restarts (the demo's data folder).

Without it, stopping the demo forgot every customer while the app's database still held their
ids, and each student who had bought before got 502 on every later checkout. With a state file
the store is loaded at start, written after every request that may change it (anything but
GET/HEAD) and after a sweep that expired sessions, and once more at shutdown. Each write goes
to a temporary file first and replaces the old one, so a crash leaves the previous state.

Not kept: webhook deliveries in flight, injected faults and the idempotency cache (Stripe
keeps keys for 24 hours; a restart here forgets them sooner).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from stripe_emulator.store import Store

_COLLECTIONS = (
    "customers",
    "sessions",
    "line_items",
    "payment_intents",
    "charges",
    "refunds",
    "disputes",
    "payment_methods",
    "setup_intents",
    "coupons",
    "events",
    "products",
    "prices",
    "subscriptions",
    "subscription_items",
    "subscription_schedules",
    "invoices",
    "invoice_lines",
    "invoice_payments",
    "test_clocks",
    "portal_sessions",
    "private",
)
_SET = "__set__"


def _encode(value: Any) -> Any:
    if isinstance(value, set):
        return {_SET: sorted(value)}
    raise TypeError(f"cannot store {type(value).__name__}")


def _decode(value: dict[str, Any]) -> Any:
    return set(value[_SET]) if set(value) == {_SET} else value


def save_store(store: Store, path: Path) -> None:
    state = {name: getattr(store, name) for name in _COLLECTIONS}
    state["order"] = store._order
    state["counter"] = store._counter
    state["clock_offset"] = store.clock.offset
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(state, default=_encode))
    os.replace(temporary, path)


def load_store(store: Store, path: Path) -> bool:
    """Fill `store` from `path`; False (and an empty store) when there is no file yet."""
    if not path.exists():
        return False
    state = json.loads(path.read_text(), object_hook=_decode)
    store.reset()
    for name in _COLLECTIONS:
        getattr(store, name).update(state.get(name, {}))
    # Line items are found by their own id through this index (see Store).
    for items in store.line_items.values():
        for item in items:
            store.line_item_index[item["id"]] = item
    store._order.update(state.get("order", {}))
    store._counter = int(state.get("counter", 0))
    store.clock.offset = int(state.get("clock_offset", 0))
    return True


class SaveAfterChanges:
    """ASGI middleware: write the store after every request that may have changed it."""

    def __init__(self, app: ASGIApp, *, store: Store, path: Path) -> None:
        self.app = app
        self.store = store
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["type"] == "http" and scope.get("method") not in ("GET", "HEAD"):
                save_store(self.store, self.path)
