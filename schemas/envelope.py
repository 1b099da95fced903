"""The message envelope every broker message travels in.

The envelope carries the routing and tracing facts (ids, type, version,
sender, recipient, times) and the sender's Ed25519 signature over all of it
including the body and the id of the key that signed it, so a consumer can
refuse a message that was altered or forged, and an unknown schema version is
detected before the body is interpreted.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from pydantic import Field

from .base import CanonicalModel, SCHEMA_VERSION, UtcDatetime
from .codes import Rag


class MessageType(StrEnum):
    ENQUIRY = "enquiry"
    ENQUIRY_RESPONSE = "enquiry_response"
    DECISION = "decision"
    OUTCOME = "outcome"
    ESCALATION = "escalation"
    ALERT = "alert"
    REFERRAL = "referral"
    RECEIPT = "receipt"


class Envelope(CanonicalModel):
    message_id: str = Field(min_length=1, max_length=64)
    correlation_id: str = Field(min_length=1, max_length=64, description="The referral id")
    causation_id: str | None = Field(default=None, max_length=64, description="The message that caused this one")
    enquiry_id: str | None = Field(default=None, max_length=64)
    message_type: MessageType
    schema_version: str = SCHEMA_VERSION
    sender: str = Field(min_length=1, max_length=64)
    recipient: str = Field(min_length=1, max_length=64)
    sent_at: UtcDatetime
    due_at: UtcDatetime | None = None
    rag: Rag | None = None
    body: dict[str, Any]
    key_id: str | None = Field(default=None, max_length=64,
                               description="Which of the sender's keys signed it (signing.public_keys)")
    signature: str | None = Field(default=None,
                                  description="Ed25519 signature over signing_bytes(), URL-safe base64")

    def signing_bytes(self) -> bytes:
        """Canonical JSON of everything but the signature (sorted keys, no spaces)."""
        data = self.model_dump(mode="json", exclude={"signature"})
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
