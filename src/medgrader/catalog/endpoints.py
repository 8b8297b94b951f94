"""HTTP: /api/credit-packages (public reads, admin writes)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from medgrader.auth.deps import BearerCredentials, CurrentAdmin, token_claims, user_for_claims
from medgrader.catalog import service
from medgrader.catalog.schemas import PackageCreate, PackageOut, PackageUpdate
from medgrader.core.deps import Ctx, RequestDb
from medgrader.core.errors import Unauthorized
from medgrader.core.openapi import errors

router = APIRouter(prefix="/api/credit-packages", tags=["catalog"])


async def caller_is_admin(ctx: Ctx, db: RequestDb, credentials: BearerCredentials) -> bool:
    """Public routes: anyone may call; a valid admin token unlocks the inactive packages.

    A missing or stale token is simply anonymous here (the shop stays readable).
    """
    try:
        user = await user_for_claims(db, await token_claims(ctx, credentials))
    except Unauthorized:
        return False
    return user.is_admin


CallerIsAdmin = Annotated[bool, Depends(caller_is_admin)]


@router.get("", response_model=list[PackageOut])
async def list_packages(
    db: RequestDb,
    is_admin: CallerIsAdmin,
    include_inactive: Annotated[bool, Query(alias="includeInactive")] = False,
) -> list[PackageOut]:
    packages = await service.list_packages(db, include_inactive=include_inactive and is_admin)
    return [PackageOut.model_validate(p) for p in packages]


@router.get("/{package_id}", response_model=PackageOut)
async def get_package(package_id: uuid.UUID, db: RequestDb, is_admin: CallerIsAdmin) -> PackageOut:
    package = await service.get_package(db, package_id, include_inactive=is_admin)
    return PackageOut.model_validate(package)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PackageOut,
    responses=errors(409, s409="package_name_taken"),
)
async def create_package(body: PackageCreate, _: CurrentAdmin, db: RequestDb) -> PackageOut:
    return PackageOut.model_validate(await service.create_package(db, body))


@router.patch(
    "/{package_id}", response_model=PackageOut, responses=errors(409, s409="package_name_taken")
)
async def update_package(
    package_id: uuid.UUID, body: PackageUpdate, _: CurrentAdmin, db: RequestDb
) -> PackageOut:
    return PackageOut.model_validate(await service.update_package(db, package_id, body))


@router.delete("/{package_id}", response_model=PackageOut)
async def delete_package(package_id: uuid.UUID, _: CurrentAdmin, db: RequestDb) -> PackageOut:
    """Soft delete: the package is deactivated (isActive=false), never removed."""
    return PackageOut.model_validate(await service.deactivate_package(db, package_id))
