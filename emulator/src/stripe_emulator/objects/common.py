"""Small pieces shared by several object builders."""

from __future__ import annotations

from typing import Any


def empty_address(country: str | None = None) -> dict[str, Any]:
    return {
        "city": None,
        "country": country,
        "line1": None,
        "line2": None,
        "postal_code": None,
        "state": None,
    }
