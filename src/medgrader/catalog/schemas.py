"""Request and response bodies of the credit-package endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator

from medgrader.core.schemas import ApiModel, NoNul

PackageName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), NoNul
]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), NoNul]
Credits = Annotated[int, Field(strict=True, ge=1, le=100_000)]
# Pence. Strict: "1000", 1000.0 and true are refused rather than coerced.
PriceInCents = Annotated[int, Field(strict=True, ge=1, le=10_000_000)]


class PackageCreate(ApiModel):
    name: PackageName
    description: Description | None = None
    credits: Credits
    price_in_cents: PriceInCents
    is_active: Annotated[bool, Field(strict=True)] = True


class PackageUpdate(ApiModel):
    """Partial update: only the fields present in the body change."""

    name: PackageName | None = None
    description: Description | None = None
    credits: Credits | None = None
    price_in_cents: PriceInCents | None = None
    is_active: Annotated[bool, Field(strict=True)] | None = None

    @field_validator("name", "credits", "price_in_cents", "is_active")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Runs only for fields the client sent (defaults are not validated): description may
        # be cleared with null, the others always have a value.
        if value is None:
            raise ValueError("may not be null")
        return value

    def changes(self) -> dict[str, object]:
        """Column name -> new value, for the fields the client sent."""
        columns = {"price_in_cents": "price_pence"}
        return {columns.get(f, f): getattr(self, f) for f in self.model_fields_set}


class PackageOut(ApiModel):
    id: uuid.UUID
    name: str
    description: str | None
    credits: int
    price_in_cents: int = Field(validation_alias="price_pence", serialization_alias="priceInCents")
    currency: Literal["GBP"]
    is_active: bool
    created_at: datetime
    updated_at: datetime
