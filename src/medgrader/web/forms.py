"""Forms validated by the API's own request models, so a page accepts exactly what the JSON
endpoint accepts; the errors come back as one sentence per field."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class FormInvalid(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        field = ".".join(str(p) for p in item.get("loc", ()))
        parts.append(f"{field}: {item.get('msg', 'is invalid')}" if field else item["msg"])
    return "; ".join(parts)


def validated(model: type[M], values: dict[str, Any]) -> M:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise FormInvalid(describe(exc)) from exc


def safe_next(target: str | None, default: str) -> str:
    """Only a path on this site (no //evil.example, no scheme): an open redirect otherwise."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default
