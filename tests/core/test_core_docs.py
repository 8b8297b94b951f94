"""/docs works offline: the page and every asset it loads come from the app itself."""

from __future__ import annotations

import re

import httpx


def test_docs_page_loads_its_assets_from_the_app_not_a_cdn(client: httpx.Client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "swagger-ui" in page.text
    sources = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert sources, page.text
    assert not [s for s in sources if s.startswith(("http:", "https:", "//"))], sources
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200, source
        assert len(asset.content) > 500, source
    script = next(s for s in sources if s.endswith("swagger-ui-bundle.js"))
    # Swagger UI 5 (OpenAPI 3.1, which FastAPI emits; 4.x renders a blank error for it).
    assert b"SwaggerUIBundle" in client.get(script).content
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")
