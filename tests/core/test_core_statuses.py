"""The one status table (core.statuses) and the refusal classes (one per machine code, in the
domain that owns the rule) match: every class's code is in the table, every code in the table
has exactly one class."""

from __future__ import annotations

import importlib
import pkgutil

import medgrader
from medgrader.core.errors import AppError
from medgrader.core.statuses import STATUS_BY_CODE


def _every_module() -> None:
    for info in pkgutil.walk_packages(medgrader.__path__, "medgrader."):
        if ".migrations" not in info.name:
            importlib.import_module(info.name)


def _subclasses(cls: type[AppError]) -> list[type[AppError]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def test_every_refusal_class_has_its_status_and_every_status_its_class() -> None:
    _every_module()
    owners: dict[str, list[str]] = {}
    for cls in [AppError, *_subclasses(AppError)]:
        if "code" in vars(cls):
            owners.setdefault(cls.code, []).append(f"{cls.__module__}.{cls.__qualname__}")
    assert {code: names for code, names in owners.items() if len(names) > 1} == {}
    assert sorted(set(owners) - set(STATUS_BY_CODE)) == []  # a class with no status
    assert sorted(set(STATUS_BY_CODE) - set(owners)) == []  # a status with no class


def test_a_code_has_one_status_everywhere() -> None:
    assert STATUS_BY_CODE["insufficient_credits"] == 402  # spends and holds alike
    assert STATUS_BY_CODE["adjustment_exceeds_balance"] == 409


def test_a_stored_refusal_is_given_again_as_its_own_class() -> None:
    _every_module()
    body = {"error": "At most 40 pence.", "code": "amount_not_refundable", "refundableAmount": 40}
    refusal = AppError.from_body(body)
    assert type(refusal).__name__ == "AmountNotRefundable"
    assert refusal.body() == body
