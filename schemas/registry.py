"""Name -> model lookups: message bodies by type, top-level models for export.

One place to answer "which model is this?" so the broker, the mapping engine
and the JSON Schema export never disagree.
"""

from __future__ import annotations

from pydantic import BaseModel

from .audit import AuditEvent
from .decision import Decision, Outcome
from .enquiry import Enquiry, EnquiryResponse
from .envelope import Envelope, MessageType
from .events import Alert, Escalation
from .finding import Finding
from .identifiers import Identifier
from .person import Person
from .receipt import DeliveryReceipt
from .record import AgencyRecord
from .referral import Referral
from .relationship import Relationship

BODY_MODELS: dict[MessageType, type[BaseModel]] = {
    MessageType.ENQUIRY: Enquiry,
    MessageType.ENQUIRY_RESPONSE: EnquiryResponse,
    MessageType.DECISION: Decision,
    MessageType.OUTCOME: Outcome,
    MessageType.ESCALATION: Escalation,
    MessageType.ALERT: Alert,
    MessageType.REFERRAL: Referral,
    MessageType.RECEIPT: DeliveryReceipt,
}

TOP_LEVEL_MODELS: dict[str, type[BaseModel]] = {
    model.__name__: model
    for model in (
        Person,
        Identifier,
        Relationship,
        Finding,
        AgencyRecord,
        Referral,
        Enquiry,
        EnquiryResponse,
        Decision,
        Outcome,
        AuditEvent,
        Escalation,
        Alert,
        DeliveryReceipt,
        Envelope,
    )
}

