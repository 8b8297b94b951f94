"""Typed access to decoded request parameters, failing the way Stripe fails.

Each reader takes the raw value and the parameter's full Stripe name (such as
``line_items[0][price_data][unit_amount]``) so that the 400 it raises names the
parameter exactly like Stripe's does.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from stripe_emulator.errors import StripeError, invalid_param, missing_param, unknown_param

_INT = re.compile(r"^-?\d+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def reject_unknown(data: Mapping[str, Any], allowed: Collection[str], prefix: str = "") -> None:
    """Stripe refuses parameters it does not know; so do we (typos surface early)."""
    for key in data:
        if key not in allowed:
            raise unknown_param(f"{prefix}[{key}]" if prefix else key)


def require(data: Mapping[str, Any], key: str, param: str | None = None) -> Any:
    value = data.get(key)
    if value is None or value == "":
        raise missing_param(param or key)
    return value


def as_str(value: Any, param: str, *, max_length: int = 5000) -> str:
    if not isinstance(value, str):
        raise invalid_param(param, f"Invalid string: {value!r}", "parameter_invalid_string")
    if len(value) > max_length:
        raise invalid_param(
            param,
            f"Invalid {param}: must be at most {max_length} characters",
            "parameter_invalid_string",
        )
    return value


def opt_str(value: Any, param: str, *, max_length: int = 5000) -> str | None:
    """A string, where the empty string means "unset" as it does on Stripe."""
    if value is None or value == "":
        return None
    return as_str(value, param, max_length=max_length)


def as_int(
    value: Any, param: str, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _INT.match(value.strip()):
        number = int(value.strip())
    else:
        raise invalid_param(param, f"Invalid integer: {value}", "parameter_invalid_integer")
    if minimum is not None and number < minimum:
        raise invalid_param(
            param,
            f"This value must be greater than or equal to {minimum}.",
            "parameter_invalid_integer",
        )
    if maximum is not None and number > maximum:
        raise invalid_param(
            param,
            f"This value must be less than or equal to {maximum}.",
            "parameter_invalid_integer",
        )
    return number


def as_bool(value: Any, param: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise invalid_param(param, f"Invalid boolean: {value}")


def as_dict(value: Any, param: str) -> dict[str, Any]:
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid_param(param, f"Invalid hash: {param} must be a hash, got {value!r}")
    return value


def as_list(value: Any, param: str) -> list[Any]:
    if value == "":
        return []
    if isinstance(value, str):
        # A single ``types=a`` is how some clients send a one-element array.
        return [value]
    if not isinstance(value, list):
        raise invalid_param(param, f"Invalid array: {param} must be an array")
    return value


def as_enum(value: Any, param: str, choices: Collection[str]) -> str:
    text = as_str(value, param)
    if text not in choices:
        options = ", ".join(sorted(choices))
        raise invalid_param(param, f"Invalid {param}: must be one of {options}")
    return text


def as_email(value: Any, param: str) -> str:
    text = as_str(value, param, max_length=512)
    if not _EMAIL.match(text):
        raise invalid_param(param, f"Invalid email address: {text}", "email_invalid")
    return text


def as_metadata(value: Any, param: str = "metadata", *, update: bool = False) -> dict[str, str]:
    """Stripe's metadata rules: at most 50 keys, keys up to 40 and values up to 500 chars.

    Empty values are dropped, except in an ``update``, where they mean "delete this key"
    (see :func:`merge_metadata`).
    """
    data = as_dict(value, param)
    if len(data) > 50:
        raise invalid_param(param, "Invalid metadata: metadata can have at most 50 keys")
    result: dict[str, str] = {}
    for key, item in data.items():
        if len(key) > 40:
            raise invalid_param(
                f"{param}[{key}]", "Invalid metadata: keys must be at most 40 characters"
            )
        text = as_str(item, f"{param}[{key}]", max_length=500)
        if text or update:
            result[key] = text
    return result


def merge_metadata(current: dict[str, str], update: dict[str, str]) -> dict[str, str]:
    """Updates merge into metadata; an empty value deletes the key (Stripe's rule)."""
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def updated_metadata(current: dict[str, str], raw: Any) -> dict[str, str]:
    """Metadata after an update request: merged, or cleared by ``metadata=`` (empty)."""
    update = as_metadata(raw, update=True)
    return merge_metadata(current, update) if update else {}


def as_expand(data: Mapping[str, Any]) -> list[str]:
    raw = data.get("expand")
    if raw is None:
        return []
    return [as_str(item, f"expand[{i}]") for i, item in enumerate(as_list(raw, "expand"))]


def exclusive(data: Mapping[str, Any], *keys: str) -> None:
    given = [k for k in keys if data.get(k) not in (None, "")]
    if len(given) > 1:
        raise StripeError(
            f"You may only specify one of these parameters: {', '.join(keys)}.",
            param=given[-1],
        )


def refuse_given(data: Mapping[str, Any], keys: Collection[str], prefix: str = "") -> None:
    """Real Stripe parameters the emulator does not act on: refused with a clear 400 when
    given a value (empty, ``false`` or absent is fine), rather than silently ignored."""
    for key in sorted(keys):
        if data.get(key) not in (None, "", "false", {}, []):
            param = f"{prefix}[{key}]" if prefix else key
            raise invalid_param(param, f"The Stripe emulator does not support `{key}`.")
