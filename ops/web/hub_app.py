"""The hub's web app as deployed: the API from ``hub.api`` plus the pages ``ops`` serves.

``hub`` builds the API and never imports ``ops`` (imports run one way); the
offline API docs (and, later, the workspace pages) are static assets and
templates under ``ops/``, so the deployed app is assembled here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from ...hub.api import create_app
from ...hub.auth.tokens import TokenVerifier
from ...hub.dead_letters import DeadLetters
from ...hub.service import HubService
from .docs import mount_offline_docs
from .static_files import mount_static
from .workspace import mount_workspace


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
