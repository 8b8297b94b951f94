"""/admin/packages: the catalogue service's create, edit, deactivate and reactivate."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from medgrader.catalog import service as catalog
from medgrader.catalog.schemas import PackageCreate, PackageUpdate
from medgrader.core.deps import DbSession
from medgrader.core.errors import AppError
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
    session: AsyncSession,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "admin/packages.html",
        status,
        packages=await catalog.list_packages(session, include_inactive=True),
        values=values or {},
        error=error,
        section="packages",
    )


@router.get("/admin/packages")
async def packages(request: Request, _: PageAdmin, session: DbSession) -> Response:
    return await _list_page(request, session)


@router.post("/admin/packages", dependencies=[Csrf])
async def create(request: Request, _: PageAdmin, session: DbSession, form: Form) -> Response:
    values = {k: form.get(k, "") for k in FIELDS}
    try:
        body = validated(PackageCreate, {**_body(form), "isActive": "active" in form})
        await catalog.create_package(session, body)
    except (FormInvalid, AppError) as exc:
        status = exc.status_code if isinstance(exc, AppError) else 422
        return await _list_page(request, session, values=values, error=exc.message, status=status)
    return redirect(request, "/admin/packages")


@router.get("/admin/packages/{package_id}")
async def edit_page(
    request: Request, package_id: str, _: PageAdmin, session: DbSession
) -> Response:
    package = await catalog.get_package(session, _package_id(package_id), include_inactive=True)
    return render(request, "admin/package.html", package=package, error=None, section="packages")


@router.post("/admin/packages/{package_id}", dependencies=[Csrf])
async def update(
    request: Request, package_id: str, _: PageAdmin, session: DbSession, form: Form
) -> Response:
    target = _package_id(package_id)
    try:
        body = validated(PackageUpdate, _body(form))
        await catalog.update_package(session, target, body)
    except (FormInvalid, AppError) as exc:
        status = exc.status_code if isinstance(exc, AppError) else 422
        package = await catalog.get_package(session, target, include_inactive=True)
        return render(
            request, "admin/package.html", status, package=package, error=exc.message,
            section="packages",
        )  # fmt: skip
    return redirect(request, "/admin/packages")


@router.post("/admin/packages/{package_id}/active", dependencies=[Csrf])
async def set_active(
    request: Request, package_id: str, _: PageAdmin, session: DbSession, form: Form
) -> Response:
    """Deactivate (the API's soft DELETE) or reactivate (PATCH isActive=true)."""
    target = _package_id(package_id)
    if form.get("active") == "true":
        await catalog.update_package(session, target, PackageUpdate(is_active=True))
    else:
        await catalog.deactivate_package(session, target)
    return redirect(request, "/admin/packages")
