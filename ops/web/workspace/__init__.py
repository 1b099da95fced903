"""The MASH workspace: server-rendered pages over the same service and access layer as the API.

Pages live under ``/workspace``; sign-in under ``/sign-in``. Every page asks
the same ``authorise()`` as the API, releases what it shows through the same
``AccessService`` (so every view of personal data is an audited read), and
renders the GOV.UK templates under ``ops/web/templates``.

Each page module in this package exposes ``router`` (a FastAPI ``APIRouter``
with ``include_in_schema=False``); they are discovered here, so a new page
adds a module instead of editing a shared list.
"""

from __future__ import annotations

import importlib
import pkgutil

from fastapi import APIRouter, FastAPI

from ..render import templates
from . import common, formatting


def mount_workspace(app: FastAPI) -> None:
    """Add the workspace pages to the hub app built by ``hub.api.create_app`` (it provides ``app.state.hub``)."""
    formatting.install(templates)
    common.install(app)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        router = getattr(module, "router", None)
        if isinstance(router, APIRouter):
            app.include_router(router)
