"""The workspace's static files (GOV.UK Frontend, mashlink.css) served by the app itself.

``mount_static(app)`` serves, from the installed package:

* ``/static/govuk/...``      ``ops/static/govuk/`` (GOV.UK Frontend CSS and JS, see its VERSION)
* ``/static/mashlink.css``   ``ops/static/mashlink.css``

It does not mount all of ``ops/static`` at ``/static``: ``ops/web/docs.py``
mounts Swagger UI at ``/static/swagger-ui``, and a ``/static`` mount added
before it would shadow it (Starlette takes the first route that matches).
Each mount here names its own prefix, so the two coexist in either order.
The files are public code and are served without sign-in; pages themselves
are not (see ``ops/web/render.py``).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles

STATIC_PREFIX = "/static"
GOVUK_PATH = f"{STATIC_PREFIX}/govuk"
MASHLINK_CSS_PATH = f"{STATIC_PREFIX}/mashlink.css"
GOVUK_ASSETS = ("govuk-frontend.min.css", "govuk-frontend.min.js")


def static_directory() -> Path:
    """``ops/static`` where the package is installed, checked for the files pages load."""
    directory = Path(str(files("mashlink.ops") / "static"))
    wanted = [directory / "govuk" / name for name in GOVUK_ASSETS] + [directory / "mashlink.css"]
    missing = [str(path.relative_to(directory)) for path in wanted if not path.is_file()]
    if missing:
        raise RuntimeError(
            f"static files missing from {directory}: {', '.join(missing)} "
            "(package data not installed? see [tool.setuptools.package-data] in pyproject.toml)"
        )
    return directory


def mount_static(app: FastAPI) -> None:
    """Serve GOV.UK Frontend at ``/static/govuk`` and ``/static/mashlink.css``; never shadows ``/static/swagger-ui``."""
    directory = static_directory()
    app.mount(GOVUK_PATH, StaticFiles(directory=directory / "govuk"), name="govuk-static")
    css = directory / "mashlink.css"

    async def mashlink_css() -> FileResponse:
        return FileResponse(css, media_type="text/css")

    app.add_api_route(MASHLINK_CSS_PATH, mashlink_css, methods=["GET", "HEAD"], include_in_schema=False,
                      name="mashlink-css")
