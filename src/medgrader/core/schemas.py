"""Pydantic bases: the API speaks camelCase JSON, Python speaks snake_case."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError


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


# Every request string that may reach the database carries this, LAST in its Annotated
# metadata: after StringConstraints, so the constraints (strip, lengths) are applied as usual
# and the JSON schema keeps them.
#     Name = Annotated[str, StringConstraints(max_length=100), NoNul]
NoNul = AfterValidator(refuse_nul)

# Money and credit counts are whole numbers; strict so that "5", 5.0 and true are refused
# rather than silently coerced.
StrictPositiveInt = Annotated[int, Field(strict=True, ge=1)]
TrimmedStr = Annotated[str, StringConstraints(strip_whitespace=True), NoNul]
