"""API docs (Swagger UI) served from the package, with no CDN and no call-outs.

FastAPI's built-in ``/docs`` page loads Swagger UI's JavaScript and CSS from
``cdn.jsdelivr.net`` and its favicon from ``fastapi.tiangolo.com``. A MASH hub
runs on a sealed council network that cannot reach either, so there the
default page is blank. Instead, the Swagger UI distribution (npm package
``swagger-ui-dist``, pinned; name, version, source and sha256 of each file in
``ops/static/swagger-ui/VERSION``) is vendored into the package and served by
the app itself.

Swagger UI also sends the spec to ``validator.swagger.io`` by default (for its
"valid" badge). That would leak the API description off the network, so the
page turns the validator off (``validatorUrl: null``). The rendered page then
names no host but the app's own.

Usage: create the app without the built-in pages, then mount these::

    app = FastAPI(title="mashlink hub", docs_url=None, redoc_url=None)
    mount_offline_docs(app)                       # or dependencies=[Depends(require_token)]

ReDoc is not served (it too would come from a CDN, and one docs page is enough).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

STATIC_PATH = "/static/swagger-ui"
DOCS_PATH = "/docs"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")


def swagger_ui_directory() -> Path:
    """Folder of the vendored Swagger UI files, where the package is installed."""
    directory = Path(str(files("mashlink.ops") / "static" / "swagger-ui"))
    missing = [name for name in ASSETS if not (directory / name).is_file()]
    if missing:
        raise RuntimeError(
            f"vendored Swagger UI files missing from {directory}: {', '.join(missing)} "
            "(package data not installed? see [tool.setuptools.package-data] in pyproject.toml)"
        )
    return directory


def mount_offline_docs(
    app: FastAPI,
    *,
    openapi_url: str = "/openapi.json",
    dependencies: Sequence[Any] = (),
) -> None:
    """Serve Swagger UI at ``/docs`` from the vendored files at ``/static/swagger-ui``.

    Create ``app`` with ``docs_url=None, redoc_url=None`` so FastAPI's CDN pages
    are not registered too. ``dependencies`` (e.g. ``[Depends(require_token)]``)
    apply to ``/docs`` and ``/docs/oauth2-redirect``; the static Swagger UI files
    themselves are public code and are served without them. ``openapi_url`` is
    the spec the page loads; it keeps whatever protection its own route has.
    URLs are prefixed with the request's ``root_path`` so the page also works
    behind a reverse proxy that mounts the app under a path.
    """
    app.mount(STATIC_PATH, StaticFiles(directory=swagger_ui_directory()), name="swagger-ui")
    title = f"{app.title} - API docs"

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=title,
            swagger_js_url=f"{root}{STATIC_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC_PATH}/favicon-32x32.png",
            oauth2_redirect_url=root + OAUTH2_REDIRECT_PATH,
            init_oauth=app.swagger_ui_init_oauth,
            # validatorUrl null: never send the spec to validator.swagger.io.
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None},
        )

    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    app.add_api_route(DOCS_PATH, swagger_ui, methods=["GET"], include_in_schema=False,
                      dependencies=list(dependencies))
    app.add_api_route(OAUTH2_REDIRECT_PATH, swagger_ui_redirect, methods=["GET"],
                      include_in_schema=False, dependencies=list(dependencies))
