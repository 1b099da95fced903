"""Serving the hub's web app over real HTTP in tests, and tokens for every role.

Tokens come from the embedded development issuer (the same code path as
``mashlink auth dev-token``), so API tests exercise real signature checks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from fastapi import FastAPI

from mashlink.config.security import Role
from mashlink.config.settings import MashlinkSettings
from mashlink.hub.auth.dev_issuer import DevIssuer

#: The agency an agency-liaison or system token acts for in these tests.
LIAISON_AGENCY = {Role.AGENCY_LIAISON: "education-synth", Role.SYSTEM: "police-synth"}


@contextmanager
def serve(app: FastAPI) -> Iterator[httpx.Client]:
    """Run ``app`` under uvicorn on an ephemeral loopback port; yield a client for it."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class Tokens:
    """Bearer headers for a role (or several), minted by the dev issuer of ``settings``."""

    def __init__(self, settings: MashlinkSettings) -> None:
        self.issuer = DevIssuer.for_settings(settings)
        self.la = settings.local_authority.code

    def token(self, *roles: Role | str, user: str | None = None, las: list[str] | None = None,
              agency: str | None = None, **kwargs: object) -> str:
        parsed = [Role(r) for r in roles]
        if agency is None:
            agency = next((LIAISON_AGENCY[r] for r in parsed if r in LIAISON_AGENCY), None)
        return self.issuer.mint(user or "-".join(r.value for r in parsed) or "nobody", parsed,
                                name=f"Test {'/'.join(r.value for r in parsed)}",
                                local_authorities=[self.la] if las is None else las, agency_id=agency,
                                **kwargs)  # type: ignore[arg-type]

    def __call__(self, *roles: Role | str, **kwargs: object) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(*roles, **kwargs)}"}
