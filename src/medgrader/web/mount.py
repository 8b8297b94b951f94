"""Mounting the pages on the app: routes, the static files they use, their error pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from medgrader.config import Settings
from medgrader.web import auth_pages, documents_pages, top_up_pages, wallet_pages
from medgrader.web.admin import (
    dashboard,
    exports,
    packages,
    payments,
    plans,
    promotions,
    refunds,
    students,
    webhooks,
)
from medgrader.web.errors import install_page_errors
from medgrader.web.session import SessionCodec

STATIC = Path(__file__).parent / "static"
ROUTERS = (
    auth_pages.router,
    wallet_pages.router,
    top_up_pages.router,
    dashboard.router,
    students.router,
    payments.router,
    refunds.router,
    packages.router,
    promotions.router,
    plans.router,
    webhooks.router,
    exports.router,
    documents_pages.router,
)


def install_pages(app: FastAPI, settings: Settings) -> None:
    """Call after the API's error handlers are installed (the pages wrap them)."""
    app.state.session_codec = SessionCodec(settings)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in ROUTERS:
        app.include_router(router)
    install_page_errors(app)
