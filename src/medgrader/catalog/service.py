"""The catalogue: what is for sale, at what price. Admin edits and the idempotent seed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import text

from medgrader.catalog import repository
from medgrader.catalog.errors import PackageNameTaken, PackageNotFound
from medgrader.catalog.schemas import PackageCreate, PackageUpdate
from medgrader.db.session import Db

NAME_INDEX = "uq_credit_packages_name_lower"


@dataclass(frozen=True)
class SeedPackage:
    name: str
    description: str
    credits: int
    price_pence: int


SEED_PACKAGES = (
    SeedPackage("Starter Pack", "100 credits to get started.", 100, 1000),
    SeedPackage("Value Pack", "500 credits: 10% off the Starter price.", 500, 4500),
    SeedPackage("Premium Pack", "1000 credits: 20% off the Starter price.", 1000, 8000),
)


@asynccontextmanager
async def _unique_name(db: Db) -> AsyncIterator[None]:
    """A savepoint in which a clash with another package's name becomes 409 and the request's
    transaction lives on."""
    try:
        async with db.savepoint():
            yield
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name == NAME_INDEX:
            raise PackageNameTaken() from exc
        raise


async def list_packages(db: Db, *, include_inactive: bool = False) -> list[Any]:
    return await repository.list_packages(db, include_inactive=include_inactive)


async def get_package(db: Db, package_id: uuid.UUID, *, include_inactive: bool = False) -> Any:
    package = await repository.get_package(db, package_id)
    if package is None or (not package.is_active and not include_inactive):
        raise PackageNotFound()
    return package


async def create_package(db: Db, body: PackageCreate) -> Any:
    values = {
        "name": body.name,
        "description": body.description,
        "credits": body.credits,
        "price_pence": body.price_in_cents,
        "currency": "GBP",
        "is_active": body.is_active,
        "validity_days": body.validity_days,
    }
    async with _unique_name(db):
        return await repository.insert_package(db, values)


async def update_package(db: Db, package_id: uuid.UUID, body: PackageUpdate) -> Any:
    changes = body.changes()
    if not changes:
        return await get_package(db, package_id, include_inactive=True)
    async with _unique_name(db):
        package = await repository.update_package(db, package_id, changes)
    if package is None:
        raise PackageNotFound()
    return package


async def deactivate_package(db: Db, package_id: uuid.UUID) -> Any:
    """Soft delete: the package leaves the shop; sessions and payments that name it keep it."""
    package = await repository.update_package(db, package_id, {"is_active": False})
    if package is None:
        raise PackageNotFound()
    return package


async def seed_catalogue(db: Db) -> int:
    """Create the standard packages that do not exist yet (by name); returns how many."""
    created = 0
    for seed in SEED_PACKAGES:
        inserted = await db.scalar(
            text(
                """
                INSERT INTO credit_packages (name, description, credits, price_pence, currency)
                VALUES (:name, :description, :credits, :price_pence, 'GBP')
                ON CONFLICT ((lower(name))) DO NOTHING
                RETURNING id
                """
            ),
            {
                "name": seed.name,
                "description": seed.description,
                "credits": seed.credits,
                "price_pence": seed.price_pence,
            },
        )
        created += inserted is not None
    return created
