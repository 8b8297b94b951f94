"""Pydantic bases: the API speaks camelCase JSON, Python speaks snake_case."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, from_attributes=True, extra="ignore"
    )


# Money and credit counts are whole numbers; strict so that "5", 5.0 and true are refused
# rather than silently coerced.
StrictPositiveInt = Annotated[int, Field(strict=True, ge=1)]
TrimmedStr = Annotated[str, StringConstraints(strip_whitespace=True)]
