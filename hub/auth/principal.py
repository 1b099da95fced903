"""``Principal``: an authenticated caller, as the rest of the hub sees it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ...config.security import Role


class Principal(BaseModel):
    """A person or an agency client, known from a verified token (never from a request body).

    ``subject`` is the identity provider's stable id (``sub``); it is what the
    audit trail, decisions and re-ratings record as the actor, with the display
    name beside it for people reading the trail.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str = Field(min_length=1, max_length=256)
    display_name: str | None = Field(default=None, max_length=256)
    kind: Literal["person", "client"]
    roles: frozenset[Role]
    local_authorities: frozenset[str] = frozenset()
    agency_id: str | None = Field(default=None, description="The agency a liaison or client acts for")
    issuer: str = Field(min_length=1)

    @property
    def actor(self) -> str:
        """The actor string written to audit events, decisions and re-ratings."""
        return self.subject

    @property
    def label(self) -> str:
        """Subject and display name, for records people read (decided_by, RAG history)."""
        return f"{self.display_name} ({self.subject})" if self.display_name else self.subject

    def primary_role(self) -> Role:
        """The role named in audit events: the most powerful one held, for a readable trail."""
        order = [Role.MANAGER, Role.PRACTITIONER, Role.AGENCY_LIAISON, Role.AUDITOR, Role.OPS, Role.SYSTEM]
        return next(r for r in order if r in self.roles)
