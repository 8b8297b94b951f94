"""Pydantic bases: the API speaks camelCase JSON, Python speaks snake_case."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema


class ApiModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, from_attributes=True, extra="ignore"
    )


NUL_MESSAGE = "must not contain NUL (\\u0000) characters"


def refuse_nul(value: str) -> str:
    """PostgreSQL text cannot hold U+0000: refuse it as a 422 that names the field, rather than
    let the first statement that binds it fail with a DataError."""
    if "\x00" in value:
        raise PydanticCustomError("nul_character", NUL_MESSAGE)
    return value


def any_case(text: str) -> str:
    """`text` as a regular expression that matches it in any letter case (JSON Schema patterns
    have no case-insensitive flag)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in text)


def names_pattern(names: Iterable[str], *, many: bool, blank: bool = True) -> str:
    """The pattern of a filter that takes one of `names` (or, `many`, a comma-separated list of
    them) in any case, with spaces around (and, `blank`, nothing at all); given to the query
    parameter, so that it is exactly what the endpoint accepts."""
    name = "(?:" + "|".join(any_case(n) for n in sorted(names)) + ")"
    listed = f"{name}(?: *, *{name})*" if many else name
    return f"^ *(?:{listed}){'?' if blank else ''} *$"


# Published with every such string, so that the OpenAPI document says what is refused.
NO_NUL_PATTERN = r"^[^\u0000]*$"


class _NoNul:
    """Annotated metadata: refuse U+0000 (after the other constraints) and say so in the JSON
    schema with a pattern (unless the field has a pattern of its own, which must exclude it)."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(refuse_nul, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.setdefault("pattern", NO_NUL_PATTERN)
        return json_schema


# Every request string that may reach the database carries this, LAST in its Annotated
# metadata: after StringConstraints, so the constraints (strip, lengths) are applied as usual
# and the JSON schema keeps them.
#     Name = Annotated[str, StringConstraints(max_length=100), NoNul]
NoNul = _NoNul()


def whole_number(value: object) -> object:
    """JSON has one number type: 5.0 is the integer 5 (as JSON Schema's "integer" says), so it is
    accepted as 5; 5.5 is not an integer and stays a float for strict validation to refuse."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Before a strict int: integral JSON numbers pass, while "5", 5.5 and true are still refused
# rather than silently coerced.
WholeNumber = BeforeValidator(whole_number)

# RFC 3339 date-time, as `format: date-time` says: pydantic alone would also take a number (a
# Unix time), a date without a time, or a time without an offset.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")


def rfc3339(value: object) -> object:
    if isinstance(value, str) and _RFC3339.fullmatch(value) is None:
        raise PydanticCustomError("datetime_format", "must be an RFC 3339 date-time")
    return value


Rfc3339DateTime = Annotated[datetime, BeforeValidator(rfc3339)]

# Money and credit counts are whole numbers.
StrictPositiveInt = Annotated[int, Field(strict=True, ge=1), WholeNumber]
NONBLANK_PATTERN = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"


class _Trimmed:
    """Annotated metadata for free text: no NUL, not blank (when required), stored trimmed.

    The bounds apply to the text as sent, and the not-blank rule is published as a pattern, so
    that the OpenAPI document says exactly what is accepted (stripping first would accept 101
    characters with a space, or refuse "   " that minLength 1 allows)."""

    def __init__(self, *, nonblank: bool) -> None:
        self.nonblank = nonblank

    def _check(self, value: str) -> str:
        refuse_nul(value)
        trimmed = value.strip()
        if self.nonblank and not trimmed:
            raise PydanticCustomError("blank", "must not be blank")
        return trimmed

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.setdefault("pattern", NONBLANK_PATTERN if self.nonblank else NO_NUL_PATTERN)
        return json_schema


def trimmed_text(*, max_length: int, required: bool = True) -> Any:
    """A free-text field of at most `max_length` characters (as sent), stored trimmed;
    `required` means it must hold more than whitespace."""
    return Annotated[
        str,
        StringConstraints(min_length=1 if required else None, max_length=max_length),
        _Trimmed(nonblank=required),
    ]
