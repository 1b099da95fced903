"""The offline API docs page over real HTTP: Swagger UI from the package, nothing from a CDN."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from fastapi import Depends, FastAPI, HTTPException

from mashlink.ops.web.docs import mount_offline_docs, swagger_ui_directory
from tests.hub.api_support import serve

VENDORED = Path(__file__).resolve().parents[2] / "ops" / "static" / "swagger-ui"


def _small_app() -> FastAPI:
    app = FastAPI(title="docs probe", docs_url=None, redoc_url=None)

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"ok": "yes"}

    return app


@pytest.fixture
def api() -> Iterator[httpx.Client]:
    app = _small_app()
    mount_offline_docs(app)
    with serve(app) as client:
        yield client


class _Assets(HTMLParser):
    """Collects every URL the page loads or links (<script src>, <link href>, <img src>, ...)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.urls.append((tag, value))


def _version_hashes() -> dict[str, str]:
    text = (VENDORED / "VERSION").read_text(encoding="utf-8")
    return {m.group(2): m.group(1) for m in re.finditer(r"^([0-9a-f]{64})  (\S+)$", text, re.M)}


def test_docs_page_loads_only_local_assets(api: httpx.Client) -> None:
    page = api.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<title>docs probe - API docs</title>" in html

    parser = _Assets()
    parser.feed(html)
    scripts = [url for tag, url in parser.urls if tag == "script"]
    links = [url for tag, url in parser.urls if tag == "link"]
    assert scripts == ["/static/swagger-ui/swagger-ui-bundle.js"]
    assert sorted(links) == ["/static/swagger-ui/favicon-32x32.png", "/static/swagger-ui/swagger-ui.css"]
    for _tag, url in parser.urls:
        assert url.startswith("/") and not url.startswith("//"), url

    # No host anywhere in the page (CDN, favicon site, validator.swagger.io) ...
    assert re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}", html) == []
    assert "cdn" not in html.lower()
    # ... and Swagger UI's built-in validator default is switched off explicitly.
    assert '"validatorUrl": null' in html
    assert "url: '/openapi.json'" in html

    expected = {
        "/static/swagger-ui/swagger-ui-bundle.js": ("javascript", 1_000_000),
        "/static/swagger-ui/swagger-ui.css": ("text/css", 100_000),
        "/static/swagger-ui/favicon-32x32.png": ("image/png", 300),
    }
    for url, (content_type, min_size) in expected.items():
        asset = api.get(url)
        assert asset.status_code == 200, url
        assert content_type in asset.headers["content-type"], (url, asset.headers["content-type"])
        assert len(asset.content) >= min_size, url
        name = url.rsplit("/", 1)[1]
        assert asset.content == (VENDORED / name).read_bytes(), url


def test_openapi_oauth2_redirect_and_no_redoc(api: httpx.Client) -> None:
    spec = api.get("/openapi.json")
    assert spec.status_code == 200
    assert "/ping" in spec.json()["paths"]
    assert "/docs" not in spec.json()["paths"]

    redirect = api.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200
    assert redirect.headers["content-type"].startswith("text/html")
    assert re.findall(r"https?://", redirect.text) == []

    assert api.get("/redoc").status_code == 404


def test_vendored_files_match_version_file() -> None:
    text = (VENDORED / "VERSION").read_text(encoding="utf-8")
    assert "swagger-ui-dist" in text
    assert re.search(r"^version:\s+\d+\.\d+\.\d+$", text, re.M)
    hashes = _version_hashes()
    present = {p.name for p in VENDORED.iterdir() if p.is_file()} - {"VERSION"}
    assert set(hashes) == present
    assert {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "LICENSE"} <= present
    for name, digest in hashes.items():
        assert hashlib.sha256((VENDORED / name).read_bytes()).hexdigest() == digest, name
    assert "Apache License" in (VENDORED / "LICENSE").read_text(encoding="utf-8")


def test_installed_package_finds_the_vendored_files() -> None:
    directory = swagger_ui_directory()
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "LICENSE", "VERSION"):
        assert (directory / name).is_file(), name


def test_dependencies_guard_the_docs_pages() -> None:
    def require_token() -> None:
        raise HTTPException(status_code=401, detail="token required")

    app = _small_app()
    mount_offline_docs(app, dependencies=[Depends(require_token)])
    with serve(app) as client:
        assert client.get("/docs").status_code == 401
        assert client.get("/docs/oauth2-redirect").status_code == 401
        assert client.get("/ping").status_code == 200
