"""What the fidelity tests compare against: Stripe's fixtures and the pinned SDK's classes."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator_support import require_file

# emulator/tests/ -> the repository's root -> its parent, where shared/ lives.
FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "stripe" / "fixtures3.json"


def official_resources() -> dict[str, Any]:
    require_file(FIXTURES, "Stripe's fixtures3.json (a checkout outside the workspace?)")
    return json.loads(FIXTURES.read_text())["resources"]


@pytest.fixture(scope="module")
def official() -> dict[str, Any]:
    """Stripe's example of each object, by object type."""
    return official_resources()


class Wire:
    """Calls the emulator's Stripe API and answers the raw JSON (not through the SDK)."""

    def __init__(self, url: str, api_key: str) -> None:
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {api_key}"})

    def __call__(self, method: str, path: str, **data: Any) -> dict[str, Any]:
        response = self.http.request(method, path, data=data or None)
        assert response.status_code == 200, response.text
        return response.json()

    def close(self) -> None:
        self.http.close()


def declared(cls: type) -> dict[str, Any]:
    """The fields the pinned SDK declares on an object, with their annotations."""
    fields: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        fields.update(getattr(klass, "__annotations__", {}))
    return {k: v for k, v in fields.items() if not k.startswith("_") and k != "OBJECT_NAME"}


def literals(annotation: Any) -> set[str]:
    """Every value of the ``Literal[...]`` inside an annotation (empty: any string)."""
    if typing.get_origin(annotation) is typing.Literal:
        return set(typing.get_args(annotation))
    values: set[str] = set()
    for arg in typing.get_args(annotation):
        values |= literals(arg)
    return values


def type_mismatches(official: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    """Fields that are an integer, a string or a hash in Stripe's example and something
    else here (values differ; None is always allowed: nullable)."""
    return [
        key
        for key, value in official.items()
        if value is not None and ours.get(key) is not None and type(value) is not type(ours[key])
    ]
