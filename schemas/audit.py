"""Audit events: the tamper-evident record of who shared what, when and why.

Each event carries the hash of the previous one (a hash chain), so removing
or editing an event breaks every later hash and a verifier can prove it.
"""

from __future__ import annotations

from pydantic import Field

from .base import CanonicalModel, UtcDatetime


class AuditEvent(CanonicalModel):
    sequence: int = Field(ge=1)
    event_id: str = Field(min_length=1, max_length=64)
    at: UtcDatetime
    actor: str = Field(min_length=1, description="User, service or agency id")
    action: str = Field(min_length=1, description="e.g. referral.created, enquiry.sent, dlq.replayed")
    referral_id: str | None = None
    enquiry_id: str | None = None
    message_id: str | None = None
    detail: dict[str, str | int | float | bool | None | list[str]] = Field(default_factory=dict)
    reason: str | None = None
    previous_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
