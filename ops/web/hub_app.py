"""The hub's web app as deployed: the API from ``hub.api`` plus the pages ``ops`` serves.

``hub`` builds the API and never imports ``ops`` (imports run one way); the
offline API docs (and, later, the workspace pages) are static assets and
templates under ``ops/``, so the deployed app is assembled here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from mashlink.hub.api import create_app
from mashlink.hub.auth.tokens import TokenVerifier
from mashlink.hub.dead_letters import DeadLetters
from mashlink.hub.service import HubService
from mashlink.ops.web.docs import mount_offline_docs
from mashlink.ops.web.static_files import mount_static
from mashlink.ops.web.workspace import mount_workspace


def build_hub_app(service: HubService, *, verifier: TokenVerifier | None = None,
                  queue_stats: Callable[[], list[Any]] | None = None,
                  audit_check: Callable[[], Any] | None = None,
                  dead_letters: DeadLetters | None = None,
                  broker_ready: Callable[[], None] | None = None) -> FastAPI:
    """The API, Swagger UI at /docs (public unless security.public_docs is off), and the workspace pages."""
    app = create_app(service, verifier=verifier, queue_stats=queue_stats, audit_check=audit_check,
                     dead_letters=dead_letters, broker_ready=broker_ready)
    if service.settings.security.public_docs:
        mount_offline_docs(app)
    mount_static(app)
    mount_workspace(app)
    return app
