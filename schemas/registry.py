"""Name -> model lookups: message bodies by type, top-level models for export.

One place to answer "which model is this?" so the broker, the mapping engine
and the JSON Schema export never disagree.
"""

from __future__ import annotations

from pydantic import BaseModel

from mashlink.schemas.audit import AuditEvent
from mashlink.schemas.decision import Decision, Outcome
from mashlink.schemas.enquiry import Enquiry, EnquiryResponse
from mashlink.schemas.envelope import Envelope, MessageType
from mashlink.schemas.events import Alert, Escalation
from mashlink.schemas.finding import Finding
from mashlink.schemas.identifiers import Identifier
from mashlink.schemas.person import Person
from mashlink.schemas.receipt import DeliveryReceipt
from mashlink.schemas.record import AgencyRecord
from mashlink.schemas.referral import Referral
from mashlink.schemas.relationship import Relationship

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

