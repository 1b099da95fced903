"""The canonical safeguarding schema (pydantic v2), versioned as a whole.

Import models from their modules (``mashlink.schemas.person.Person``) or from
here. JSON Schema exports live in ``schemas/json/``.
"""

from mashlink.schemas.audit import AuditEvent
from mashlink.schemas.base import SCHEMA_VERSION, CanonicalModel
from mashlink.schemas.decision import Decision, Outcome
from mashlink.schemas.enquiry import Enquiry, EnquiryResponse, SubjectMatch
from mashlink.schemas.envelope import Envelope, MessageType
from mashlink.schemas.events import Alert, AlertKind, Escalation, EscalationLevel
from mashlink.schemas.finding import Finding, SourceRef
from mashlink.schemas.identifiers import Identifier, IdentifierSystem, VerificationStatus
from mashlink.schemas.person import Address, BirthDate, HumanName, Person
from mashlink.schemas.record import AgencyRecord, RecordIssue
from mashlink.schemas.referral import Consent, RagChange, Referral
from mashlink.schemas.relationship import Relationship

__all__ = [
    "SCHEMA_VERSION", "CanonicalModel", "AuditEvent", "Decision", "Outcome", "Enquiry",
    "EnquiryResponse", "SubjectMatch", "Envelope", "MessageType", "Alert", "AlertKind",
    "Escalation", "EscalationLevel", "Finding", "SourceRef", "Identifier", "IdentifierSystem",
    "VerificationStatus", "Address", "BirthDate", "HumanName", "Person", "AgencyRecord",
    "RecordIssue", "Consent", "RagChange", "Referral", "Relationship",
]
