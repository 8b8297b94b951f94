"""Decoding Stripe's form encoding into nested Python values.

Stripe's v1 API takes ``application/x-www-form-urlencoded`` bodies (and query strings)
whose keys carry structure: ``line_items[0][price_data][unit_amount]=1000``,
``metadata[order]=42``, ``expand[]=line_items`` or ``expand[0]=line_items``. This
module turns the flat pairs into dicts and lists; values stay strings, and typing
them is the job of :mod:`stripe_emulator.params`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from stripe_emulator.errors import StripeError

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")

# Hashes whose keys are free-form: ``metadata[0]=x`` is a key "0", not a list index.
_FREE_FORM = {"metadata"}


def _split_key(key: str) -> list[str]:
    match = _KEY.match(key)
    if not match:
        return [key]
    return [match.group(1), *_PART.findall(match.group(2))]


def _insert(root: dict[str, Any], parts: list[str], value: str, key: str) -> None:
    node = root
    for depth, part in enumerate(parts):
        if part == "":
            # ``expand[]``: append, i.e. use the next free index.
            part = str(sum(1 for k in node if k.isdigit()))
        last = depth == len(parts) - 1
        if last:
            if isinstance(node.get(part), dict):
                raise StripeError(
                    f"Invalid hash: {key} is given both as a value and a hash.", param=key
                )
            node[part] = value
            return
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise StripeError(
                f"Invalid hash: {key} is given both as a value and a hash.", param=key
            )
        node = child


def _finalize(node: Any, parent: str | None = None) -> Any:
    if not isinstance(node, dict):
        return node
    if parent not in _FREE_FORM and node and all(k.isdigit() for k in node):
        return [_finalize(node[k], None) for k in sorted(node, key=int)]
    return {k: _finalize(v, k) for k, v in node.items()}


def decode_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in pairs:
        _insert(root, _split_key(key), value, key)
    return {k: _finalize(v, k) for k, v in root.items()}


def decode_form(body: bytes | str) -> dict[str, Any]:
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    return decode_pairs(parse_qsl(text, keep_blank_values=True))
