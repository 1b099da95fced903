"""Rendering without a browser: the RAG macro, escaping, strictness, headers, static files, vendored hashes."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from jinja2 import UndefinedError

from mashlink.ops.web.docs import mount_offline_docs
from mashlink.ops.web.render import templates
from mashlink.ops.web.static_files import mount_static, static_directory
from mashlink.schemas.codes import Rag
from tests.browser.demo_app import build_demo_app
from tests.hub.api_support import serve

ROOT = Path(__file__).resolve().parents[2]
MACROS = templates.get_template("macros.html").module


@pytest.fixture(scope="module")
def demo() -> Iterator[httpx.Client]:
    with serve(build_demo_app()) as client:
        yield client


@pytest.mark.parametrize(("rag", "label", "colour"), [
    (Rag.RED, "Red", "govuk-tag--red"), (Rag.AMBER, "Amber", "govuk-tag--orange"),
    (Rag.GREEN, "Green", "govuk-tag--green"), ("RED", "Red", "govuk-tag--red"), ("amber", "Amber", "govuk-tag--orange"),
    (None, "Not rated", "govuk-tag--grey"), ("", "Not rated", "govuk-tag--grey"),
    ("purple", "Not rated", "govuk-tag--grey"),
])
def test_rag_tag_always_shows_the_word(rag: object, label: str, colour: str) -> None:
    html = str(MACROS.rag_tag(rag))
    assert html == f'<strong class="govuk-tag {colour}">{label}</strong>'


def test_data_is_escaped_wherever_it_lands(demo: httpx.Client) -> None:
    page = demo.get("/demo").text
    assert "<script>window.__pwned" not in page
    assert page.count("&lt;script&gt;window.__pwned = 1&lt;/script&gt;Jo") == 2  # summary list, table
    assert 'value="&#34;&gt;&lt;script&gt;window.__pwned = 2&lt;/script&gt;"' in page
    assert len(re.findall(r"<script\b", page)) == 2  # the layout's own two, nothing from the data


def test_macros_escape_their_arguments() -> None:
    hostile = "<script>x()</script>"
    rendered = "".join(str(m) for m in (
        MACROS.table([hostile], [[hostile, {"text": hostile, "format": "numeric"}]], caption=hostile),
        MACROS.summary_list([{"key": hostile, "value": hostile,
                              "actions": [{"text": hostile, "href": hostile, "hidden": hostile}]}]),
        MACROS.error_summary([{"field": hostile, "text": hostile}]),
        MACROS.field_error(hostile, hostile),
        MACROS.text_input(hostile, hostile, value=hostile, hint=hostile, errors=[{"field": hostile, "text": hostile}]),
        MACROS.notification_banner(hostile, title=hostile),
        MACROS.back_link(hostile, hostile),
        MACROS.pagination(1, 2, hostile + "{page}"),
    ))
    assert "<script>" not in rendered
    assert rendered.count("&lt;script&gt;x()&lt;/script&gt;") >= 20


def test_templates_are_strict_about_undefined_names() -> None:
    with pytest.raises(UndefinedError):
        templates.from_string("{{ misspelt }}").render()


def test_every_page_gets_security_headers_and_a_fresh_nonce(demo: httpx.Client) -> None:
    first, second = demo.get("/demo?errors=0"), demo.get("/demo?errors=0")
    assert first.status_code == 200 and demo.get("/demo").status_code == 400
    policy = first.headers["content-security-policy"]
    for directive in ("default-src 'self'", "style-src 'self'", "img-src 'self' data:", "frame-ancestors 'none'",
                      "form-action 'self'", "base-uri 'none'"):
        assert directive in policy
    assert first.headers["x-content-type-options"] == "nosniff"
    assert first.headers["referrer-policy"] == "no-referrer"
    assert first.headers["cache-control"] == "no-store"
    nonces = [re.search(r"script-src 'self' 'nonce-([A-Za-z0-9_-]{20,})'", r.headers["content-security-policy"])
              for r in (first, second)]
    assert all(nonces) and nonces[0].group(1) != nonces[1].group(1)  # type: ignore[union-attr]
    assert re.findall(r'<script[^>]*nonce="([^"]+)"', first.text) == [nonces[0].group(1)] * 2  # type: ignore[union-attr]


def test_phase_banner_and_user_only_when_given() -> None:
    page = templates.get_template("layout.html").render(
        request=None, csp_nonce="n", page_title=None, principal=None, sign_out_url="/sign-out", home_url="/",
        environment="production", navigation=[], footer_links=[], errors=[])
    assert "govuk-phase-banner" not in page and "Sign out" not in page and "govuk-service-navigation" not in page
    assert '<html lang="en" class="govuk-template">' in page and 'href="#main-content"' in page


@pytest.mark.parametrize("docs_first", [True, False])
def test_static_mounts_coexist_with_swagger_ui(docs_first: bool) -> None:
    app = FastAPI(docs_url=None, redoc_url=None)
    for mount in ((mount_offline_docs, mount_static) if docs_first else (mount_static, mount_offline_docs)):
        mount(app)
    with serve(app) as client:
        for path, kind in (("/static/govuk/govuk-frontend.min.css", "text/css"),
                           ("/static/govuk/govuk-frontend.min.js", "javascript"),
                           ("/static/mashlink.css", "text/css"),
                           ("/static/swagger-ui/swagger-ui.css", "text/css"),
                           ("/docs", "text/html")):
            response = client.get(path)
            assert response.status_code == 200 and kind in response.headers["content-type"], path


def _hashes(version_file: Path) -> dict[str, str]:
    text = version_file.read_text(encoding="utf-8").split("sha256:", 1)[1]
    return {name: digest for digest, name in (line.split() for line in text.strip().splitlines())}


@pytest.mark.parametrize("folder", ["ops/static/govuk", "tests/browser/vendor/axe-core"])
def test_vendored_files_match_their_version_file(folder: str) -> None:
    directory = ROOT / folder
    hashes = _hashes(directory / "VERSION")
    on_disk = {p.name for p in directory.rglob("*") if p.is_file() and p.name != "VERSION"}
    assert set(hashes) == on_disk, "every vendored file is listed in VERSION, and nothing else is there"
    for name, digest in hashes.items():
        assert hashlib.sha256((directory / name).read_bytes()).hexdigest() == digest, name


def test_no_gds_transport_font_or_crown_image_is_shipped() -> None:
    shipped = [p for p in static_directory().rglob("*") if p.is_file()]
    assert not [p for p in shipped if p.suffix in (".woff", ".woff2", ".ico")
                or p.name.startswith(("govuk-crest", "govuk-icon", "govuk-opengraph", "favicon.svg"))]
    css = (static_directory() / "mashlink.css").read_text(encoding="utf-8")
    assert "font-family: arial, sans-serif !important" in css

