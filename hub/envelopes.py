"""Envelopes the hub creates: one place that fills in the ids, sender and times."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from ..config.settings import HUB_SENDER_ID
from ..schemas.codes import Rag
from ..schemas.envelope import Envelope, MessageType

def new_message_id() -> str:
    return uuid.uuid4().hex


def hub_envelope(
    message_type: MessageType,
    body: BaseModel,
    *,
    correlation_id: str,
    recipient: str,
    sent_at: datetime,
    enquiry_id: str | None = None,
    causation_id: str | None = None,
    rag: Rag | None = None,
    due_at: datetime | None = None,
) -> Envelope:
    """An unsigned envelope from the hub (the codec signs it when the outbox encodes it)."""
    return Envelope(
        message_id=new_message_id(),
        correlation_id=correlation_id,
        causation_id=causation_id,
        enquiry_id=enquiry_id,
        message_type=message_type,
        sender=HUB_SENDER_ID,
        recipient=recipient,
        sent_at=sent_at,
        due_at=due_at,
        rag=rag,
        body=body.model_dump(mode="json"),
    )
