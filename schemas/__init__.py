"""The canonical safeguarding schema (pydantic v2), versioned as a whole.

Import models from their modules (``mashlink.schemas.person.Person``) or from
here. JSON Schema exports live in ``schemas/json/``.
"""

from .audit import AuditEvent
from .base import SCHEMA_VERSION, CanonicalModel
from .decision import Decision, Outcome
from .enquiry import Enquiry, EnquiryResponse, SubjectMatch
from .envelope import Envelope, MessageType
from .events import Alert, AlertKind, Escalation, EscalationLevel
from .finding import Finding, SourceRef
from .identifiers import Identifier, IdentifierSystem, VerificationStatus
from .person import Address, BirthDate, HumanName, Person
from .record import AgencyRecord, RecordIssue
from .referral import Consent, RagChange, Referral
from .relationship import Relationship

__all__ = [
    "SCHEMA_VERSION", "CanonicalModel", "AuditEvent", "Decision", "Outcome", "Enquiry",
    "EnquiryResponse", "SubjectMatch", "Envelope", "MessageType", "Alert", "AlertKind",
    "Escalation", "EscalationLevel", "Finding", "SourceRef", "Identifier", "IdentifierSystem",
    "VerificationStatus", "Address", "BirthDate", "HumanName", "Person", "AgencyRecord",
    "RecordIssue", "Consent", "RagChange", "Referral", "Relationship",
]
