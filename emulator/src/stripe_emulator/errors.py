"""Stripe's error shape: ``{"error": {"type", "code"?, "message", "param"?, ...}}``.

Every failure the emulator reports, on the Stripe API and on the control API, is a
``StripeError`` so clients (the official SDK in particular) see exactly what Stripe
would send and raise the matching exception class.
"""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        # Stripe leaves out ``code`` and ``param`` when an error has none (it never
        # sends them as null), so clients must not count on the keys being there.
        error: dict[str, Any] = {"type": self.type}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = "https://stripe.com/docs/error-codes/" + self.code.replace("_", "-")
        error["message"] = self.message
        if self.param:
            error["param"] = self.param
        error.update(self.extra)
        return {"error": error}


def missing_param(param: str) -> StripeError:
    return StripeError(f"Missing required param: {param}.", code="parameter_missing", param=param)


def unknown_param(param: str) -> StripeError:
    return StripeError(
        f"Received unknown parameter: {param}", code="parameter_unknown", param=param
    )


def invalid_param(param: str, message: str, code: str = "parameter_invalid") -> StripeError:
    return StripeError(message, code=code, param=param)


def no_such(kind: str, object_id: str, *, param: str | None = None) -> StripeError:
    """A missing object: 404 when named in the URL, 400 when named by a parameter."""
    return StripeError(
        f"No such {kind}: '{object_id}'",
        status=400 if param else 404,
        code="resource_missing",
        param=param or "id",
    )


def unrecognized_url(method: str, path: str) -> StripeError:
    return StripeError(
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
        status=404,
    )
