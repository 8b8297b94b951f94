"""Clients for the control API (``/_emulator/...``), blocking and async.

``EmulatorControl`` (httpx, blocking) suits plain tests and scripts; use
``AsyncEmulatorControl`` from async code whose own event loop must keep running
meanwhile, for example when the webhook receiver is served by that loop. Both have
the same methods; on the async one, await them. Errors raise :class:`EmulatorError`
carrying Stripe's error fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

TEST_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"


class EmulatorError(Exception):
    def __init__(self, status_code: int, body: Any) -> None:
        self.status_code = status_code
        self.body = body
        self.error: dict[str, Any] = body.get("error", {}) if isinstance(body, dict) else {}
        super().__init__(f"{status_code}: {self.error.get('message', body)}")

    @property
    def code(self) -> str | None:
        return self.error.get("code")

    @property
    def type(self) -> str | None:
        return self.error.get("type")


@dataclass(frozen=True)
class _Call:
    method: str
    path: str
    json: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    # For list answers: return just ``body["data"]``.
    unwrap: bool = False
    # Seconds to wait for the answer, when the call itself may take long (``wait``).
    timeout: float | None = None


def _drop_none(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class _ControlMethods:
    """The operations; ``_send`` (blocking or async) decides how they travel."""

    def _send(self, call: _Call) -> Any:
        raise NotImplementedError

    def health(self) -> Any:
        return self._send(_Call("GET", "/_emulator/health"))

    def pay(
        self,
        session_id: str,
        card: str = TEST_CARD,
        *,
        method: str = "card",
        email: str | None = None,
        name: str | None = None,
        expiry: str | None = None,
    ) -> Any:
        """Pay a session by card, or with ``method="bank_transfer"`` (settle it later); a
        setup-mode session saves the card. ``expiry``: ``"MM/YY"`` (default a future date)."""
        body = _drop_none(
            method=method,
            card=card if method == "card" else None,
            email=email,
            name=name,
            expiry=expiry,
        )
        return self._send(_Call("POST", f"/_emulator/checkout/sessions/{session_id}/pay", body))

    def settle(self, session_id: str, outcome: str = "succeeded") -> Any:
        path = f"/_emulator/checkout/sessions/{session_id}/settle"
        return self._send(_Call("POST", path, {"outcome": outcome}))

    def expire(self, session_id: str) -> Any:
        return self._send(_Call("POST", f"/_emulator/checkout/sessions/{session_id}/expire", {}))

    def refund(
        self,
        *,
        payment_intent: str | None = None,
        charge: str | None = None,
        amount: int | None = None,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> Any:
        """Refund as from the Dashboard (its events carry no request id)."""
        body = _drop_none(
            payment_intent=payment_intent,
            charge=charge,
            amount=amount,
            reason=reason,
            metadata=metadata,
        )
        return self._send(_Call("POST", "/_emulator/refunds", body))

    def succeed_refund(self, refund_id: str) -> Any:
        """A pending (bank-debit) refund succeeds now instead of after its delay."""
        return self._send(_Call("POST", f"/_emulator/refunds/{refund_id}/succeed", {}))

    def fail_refund(self, refund_id: str, failure_reason: str | None = None) -> Any:
        """A pending or succeeded refund fails now (default reason: the card's is
        ``expired_or_canceled_card``)."""
        body = _drop_none(failure_reason=failure_reason)
        return self._send(_Call("POST", f"/_emulator/refunds/{refund_id}/fail", body))

    def dispute(
        self,
        *,
        payment_intent: str | None = None,
        charge: str | None = None,
        amount: int | None = None,
        reason: str | None = None,
    ) -> Any:
        body = _drop_none(
            payment_intent=payment_intent, charge=charge, amount=amount, reason=reason
        )
        return self._send(_Call("POST", "/_emulator/disputes", body))

    def submit_dispute_evidence(
        self, dispute_id: str, evidence: dict[str, str] | None = None
    ) -> Any:
        """Submit evidence as the merchant would (the dispute goes ``under_review``)."""
        body = _drop_none(evidence=evidence)
        path = f"/_emulator/disputes/{dispute_id}/submit_evidence"
        return self._send(_Call("POST", path, body))

    def close_dispute(self, dispute_id: str, outcome: str) -> Any:
        """The bank decides: ``won`` (funds reinstated) or ``lost``."""
        path = f"/_emulator/disputes/{dispute_id}/close"
        return self._send(_Call("POST", path, {"outcome": outcome}))

    def resend(self, event_id: str, endpoint: str | None = None) -> Any:
        body = _drop_none(endpoint=endpoint)
        return self._send(_Call("POST", f"/_emulator/events/{event_id}/resend", body))

    def deliveries(
        self,
        *,
        event_id: str | None = None,
        type: str | None = None,
        endpoint: str | None = None,
        ok: bool | None = None,
    ) -> Any:
        """The delivery log (dicts, oldest first), optionally filtered."""
        params = _drop_none(
            event_id=event_id,
            type=type,
            endpoint=endpoint,
            ok=None if ok is None else str(ok).lower(),
        )
        return self._send(_Call("GET", "/_emulator/deliveries", params=params, unwrap=True))

    def wait_for_deliveries(self, timeout: float = 10.0) -> Any:
        """Block until no delivery is in flight, awaiting a retry or held back.

        Raises ``EmulatorError`` (status 408) if that does not happen within ``timeout``.
        """
        # The HTTP timeout must outlast the server-side wait.
        call = _Call("POST", "/_emulator/wait", {"timeout": timeout}, timeout=timeout + 10)
        return self._send(call)

    def reset(self, webhook_endpoints: list[dict[str, Any]] | None = None) -> Any:
        body = _drop_none(webhook_endpoints=webhook_endpoints)
        return self._send(_Call("POST", "/_emulator/reset", body))

    def endpoints(self) -> Any:
        """The configured webhook endpoints (dicts with id, url, secrets)."""
        return self._send(_Call("GET", "/_emulator/webhook_endpoints", unwrap=True))

    def add_endpoint(
        self,
        url: str,
        secret: str | None = None,
        secondary_secret: str | None = None,
        enabled_events: list[str] | None = None,
    ) -> Any:
        """Add (or replace, by URL) a webhook endpoint; returns it with its secret."""
        body = _drop_none(
            url=url, secret=secret, secondary_secret=secondary_secret, enabled_events=enabled_events
        )
        return self._send(_Call("POST", "/_emulator/webhook_endpoints", body))

    def remove_endpoint(self, endpoint: str) -> Any:
        return self._send(_Call("DELETE", f"/_emulator/webhook_endpoints/{endpoint}"))

    def set_faults(self, endpoint: str | None = None, **faults: Any) -> Any:
        """Replace the faults of one endpoint (id or URL), or of all with ``None``."""
        return self._send(_Call("POST", "/_emulator/faults", {"endpoint": endpoint, **faults}))

    def clear_faults(self) -> Any:
        return self._send(_Call("DELETE", "/_emulator/faults"))

    def advance_clock(self, seconds: int) -> Any:
        """Move the emulator's clock: due sessions expire, due refunds settle or fail."""
        return self._send(_Call("POST", "/_emulator/clock", {"advance": seconds}))


def _result(call: _Call, response: httpx.Response) -> Any:
    body = response.json() if response.content else None
    if response.status_code >= 400:
        raise EmulatorError(response.status_code, body)
    return body["data"] if call.unwrap else body


class EmulatorControl(_ControlMethods):
    """Blocking control client for an emulator at ``base_url``."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def _send(self, call: _Call) -> Any:
        response = self._http.request(
            call.method,
            call.path,
            json=call.json,
            params=call.params,
            timeout=call.timeout or self._http.timeout,
        )
        return _result(call, response)

    def close(self) -> None:
        self._http.close()


class AsyncEmulatorControl(_ControlMethods):
    """Async control client; every method returns an awaitable.

    ``transport`` reaches the emulator some other way than the network, e.g.
    ``httpx.ASGITransport(app=emulator_app)`` in the same process (what
    :class:`~stripe_emulator.inprocess.InProcessEmulator` does).
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport)

    async def _send(self, call: _Call) -> Any:
        response = await self._http.request(
            call.method,
            call.path,
            json=call.json,
            params=call.params,
            timeout=call.timeout or self._http.timeout,
        )
        return _result(call, response)

    async def aclose(self) -> None:
        await self._http.aclose()
