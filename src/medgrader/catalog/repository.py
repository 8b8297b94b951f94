"""Queries for credit packages (Core statements on the models' table). A package is a row with
the table's columns (id, name, description, credits, price_pence, currency, is_active, ...)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, insert, select, update

from medgrader.db.session import Db
from medgrader.models.catalog import CreditPackage

PACKAGES = CreditPackage.__table__


async def list_packages(db: Db, *, include_inactive: bool) -> list[Any]:
    query = select(PACKAGES).order_by(
        PACKAGES.c.price_pence, PACKAGES.c.credits.desc(), func.lower(PACKAGES.c.name)
    )
    if not include_inactive:
        query = query.where(PACKAGES.c.is_active.is_(True))
    return (await db.execute(query)).all()


async def get_package(db: Db, package_id: uuid.UUID) -> Any | None:
    return (await db.execute(select(PACKAGES).where(PACKAGES.c.id == package_id))).one_or_none()


async def insert_package(db: Db, values: dict[str, Any]) -> Any:
    return (await db.execute(insert(PACKAGES).values(**values).returning(PACKAGES))).one()


async def update_package(db: Db, package_id: uuid.UUID, changes: dict[str, Any]) -> Any | None:
    statement = (
        update(PACKAGES)
        .where(PACKAGES.c.id == package_id)
        .values(**changes, updated_at=func.now())
        .returning(PACKAGES)
    )
    return (await db.execute(statement)).one_or_none()
