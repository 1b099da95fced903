"""The MASH workspace: server-rendered pages over the same service and access layer as the API.

Pages live under ``/workspace``; sign-in under ``/sign-in``. Every page asks
the same ``authorise()`` as the API, releases what it shows through the same
``AccessService`` (so every view of personal data is an audited read), and
renders the GOV.UK templates under ``ops/web/templates``.
"""

from __future__ import annotations

from fastapi import FastAPI

from mashlink.ops.web.render import templates
from mashlink.ops.web.workspace import common, formatting, referrals, sign_in


def mount_workspace(app: FastAPI) -> None:
    """Add the workspace pages to the hub app built by ``hub.api.create_app`` (it provides ``app.state.hub``)."""
    formatting.install(templates)
    common.install(app)
    app.include_router(sign_in.router)
    app.include_router(referrals.router)
