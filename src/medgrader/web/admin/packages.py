"""/admin/packages: the catalogue service's create, edit, deactivate and reactivate."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from starlette.responses import Response

from medgrader.catalog import service as catalog
from medgrader.catalog.schemas import PackageCreate, PackageUpdate
from medgrader.core.deps import RequestDb
from medgrader.core.errors import AppError
from medgrader.core.statuses import status_of
from medgrader.db.session import Db
from medgrader.web.deps import Csrf, Form, PageAdmin
from medgrader.web.forms import FormInvalid, validated
from medgrader.web.money import parse_int, parse_pounds
from medgrader.web.rendering import redirect, render

router = APIRouter(include_in_schema=False)
FIELDS = ("name", "description", "credits", "price")


def _package_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise catalog.PackageNotFound() from None


def _body(form: dict[str, str]) -> dict[str, object]:
    """The JSON body the API would take, from the form (price typed in pounds)."""
    return {
        "name": form.get("name", ""),
        "description": form.get("description", "").strip() or None,
        "credits": parse_int(form.get("credits"), field="credits"),
        "priceInCents": parse_pounds(form.get("price"), field="price"),
    }


async def _list_page(
    request: Request,
    db: Db,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "admin/packages.html",
        status,
        packages=await catalog.list_packages(db, include_inactive=True),
        values=values or {},
        error=error,
        section="packages",
    )


@router.get("/admin/packages")
async def packages(request: Request, _: PageAdmin, db: RequestDb) -> Response:
    return await _list_page(request, db)


@router.post("/admin/packages", dependencies=[Csrf])
async def create(request: Request, _: PageAdmin, db: RequestDb, form: Form) -> Response:
    values = {k: form.get(k, "") for k in FIELDS}
    try:
        body = validated(PackageCreate, {**_body(form), "isActive": "active" in form})
        await catalog.create_package(db, body)
    except (FormInvalid, AppError) as exc:
        status = status_of(exc) if isinstance(exc, AppError) else 422
        return await _list_page(request, db, values=values, error=exc.message, status=status)
    return redirect(request, "/admin/packages")


@router.get("/admin/packages/{package_id}")
async def edit_page(request: Request, package_id: str, _: PageAdmin, db: RequestDb) -> Response:
    package = await catalog.get_package(db, _package_id(package_id), include_inactive=True)
    return render(request, "admin/package.html", package=package, error=None, section="packages")


@router.post("/admin/packages/{package_id}", dependencies=[Csrf])
async def update(
    request: Request, package_id: str, _: PageAdmin, db: RequestDb, form: Form
) -> Response:
    target = _package_id(package_id)
    try:
        body = validated(PackageUpdate, _body(form))
        await catalog.update_package(db, target, body)
    except (FormInvalid, AppError) as exc:
        status = status_of(exc) if isinstance(exc, AppError) else 422
        package = await catalog.get_package(db, target, include_inactive=True)
        return render(
            request, "admin/package.html", status, package=package, error=exc.message,
            section="packages",
        )  # fmt: skip
    return redirect(request, "/admin/packages")


@router.post("/admin/packages/{package_id}/active", dependencies=[Csrf])
async def set_active(
    request: Request, package_id: str, _: PageAdmin, db: RequestDb, form: Form
) -> Response:
    """Deactivate (the API's soft DELETE) or reactivate (PATCH isActive=true)."""
    target = _package_id(package_id)
    if form.get("active") == "true":
        await catalog.update_package(db, target, PackageUpdate(is_active=True))
    else:
        await catalog.deactivate_package(db, target)
    return redirect(request, "/admin/packages")
