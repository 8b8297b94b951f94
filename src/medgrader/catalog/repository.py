"""Queries for credit packages."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from medgrader.models.catalog import CreditPackage


async def list_packages(session: AsyncSession, *, include_inactive: bool) -> list[CreditPackage]:
    query = select(CreditPackage).order_by(
        CreditPackage.price_pence, CreditPackage.credits.desc(), func.lower(CreditPackage.name)
    )
    if not include_inactive:
        query = query.where(CreditPackage.is_active.is_(True))
    return list(await session.scalars(query))


async def get_package(session: AsyncSession, package_id: uuid.UUID) -> CreditPackage | None:
    return await session.get(CreditPackage, package_id)


async def update_package(
    session: AsyncSession, package_id: uuid.UUID, changes: dict[str, Any]
) -> CreditPackage | None:
    # populate_existing: the session may already hold this package from an earlier read.
    return await session.scalar(
        update(CreditPackage)
        .where(CreditPackage.id == package_id)
        .values(**changes, updated_at=func.now())
        .returning(CreditPackage)
        .execution_options(populate_existing=True)
    )
