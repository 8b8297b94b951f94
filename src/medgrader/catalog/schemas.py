"""Request and response bodies of the credit-package endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from medgrader.core.schemas import ApiModel, WholeNumber, trimmed_text

PackageName = trimmed_text(max_length=100)
Description = trimmed_text(max_length=500, required=False)
Credits = Annotated[int, Field(strict=True, ge=1, le=100_000), WholeNumber]
# Pence, from Stripe's smallest GBP charge (30p: a cheaper package could never be bought, every
# checkout of it would be a 502). Strict: "1000", 1000.5 and true are refused, not coerced.
MIN_PRICE_PENCE = 30
PriceInCents = Annotated[int, Field(strict=True, ge=MIN_PRICE_PENCE, le=10_000_000), WholeNumber]
# How many days a purchase's credits stay usable; absent (null): they never expire.
ValidityDays = Annotated[int, Field(strict=True, ge=1, le=3650), WholeNumber]


class PackageCreate(ApiModel):
    name: PackageName
    description: Description | None = None
    credits: Credits
    price_in_cents: PriceInCents
    is_active: Annotated[bool, Field(strict=True)] = True
    validity_days: ValidityDays | None = None


def _not_null(schema: dict[str, Any]) -> None:
    """JSON schema of an optional field that refuses null: its non-null branch alone."""
    branches = [b for b in schema.pop("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:
        schema.update(branches[0])
    schema.pop("default", None)


class PackageUpdate(ApiModel):
    """Partial update: only the fields present in the body change."""

    # May be left out but never null: the published schema has no null for them either.
    name: PackageName | None = Field(default=None, json_schema_extra=_not_null)
    description: Description | None = None
    credits: Credits | None = Field(default=None, json_schema_extra=_not_null)
    price_in_cents: PriceInCents | None = Field(default=None, json_schema_extra=_not_null)
    is_active: Annotated[bool, Field(strict=True)] | None = Field(
        default=None, json_schema_extra=_not_null
    )
    # null: the package's credits stop expiring (for purchases from then on).
    validity_days: ValidityDays | None = None

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
    validity_days: int | None = None
    created_at: datetime
    updated_at: datetime
