"""A VAT document's PDF for the pages (the browser's cookie session): the wallet's own
documents and the back office's, by the same service as GET /api/documents/{number}.pdf
(the owner or an admin; anyone else 404)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from medgrader.core.deps import RequestDb
from medgrader.documents import service as documents
from medgrader.web.deps import PageAdmin, PageStudent

router = APIRouter(include_in_schema=False)


def _pdf(filename: str, pdf: bytes) -> Response:
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


@router.get("/wallet/documents/{number}.pdf")
async def wallet_document(number: str, user: PageStudent, db: RequestDb) -> Response:
    return _pdf(*await documents.document_pdf(db, user, number[:40]))


@router.get("/admin/documents/{number}.pdf")
async def admin_document(number: str, admin: PageAdmin, db: RequestDb) -> Response:
    return _pdf(*await documents.document_pdf(db, admin, number[:40]))
