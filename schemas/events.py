"""Events that flow on the events exchange: alerts, escalations, re-ratings.

They are small and carry ids, not personal data, so operators' tools and
dashboards can subscribe without receiving case material.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from .base import CanonicalModel, UtcDatetime
from .codes import AgencyKind, Rag


class EscalationLevel(StrEnum):
    AT_RISK = "at_risk"
    OVERDUE = "overdue"


class Escalation(CanonicalModel):
    """An enquiry is close to (at_risk) or past (overdue) its deadline."""

    escalation_id: str = Field(min_length=1, max_length=64)
    enquiry_id: str = Field(min_length=1, max_length=64)
    referral_id: str = Field(min_length=1, max_length=64)
    agency_id: str = Field(min_length=1)
    rag: Rag
    level: EscalationLevel
    due_at: UtcDatetime
    raised_at: UtcDatetime


class AlertKind(StrEnum):
    UNSCHEDULED_CARE_ATTENDANCE = "unscheduled_care_attendance"
    CHILD_COMING_TO_NOTICE = "child_coming_to_notice"
    MISSING_EPISODE = "missing_episode"
    HOSPITAL_ADMISSION = "hospital_admission"  # an admission (not only an attendance) of a watched child
    DOMESTIC_ABUSE_INCIDENT = "domestic_abuse_incident"  # police: a new DA incident in a watched child's household


class WatchReason(StrEnum):
    """Why the hub watches a child, so the team sees at once why an alert matters."""

    OPEN_REFERRAL = "open_referral"
    OPEN_ENQUIRY = "open_enquiry"
    CHILD_PROTECTION_PLAN = "child_protection_plan"
    CHILD_PROTECTION_FLAG = "child_protection_flag"


class Alert(CanonicalModel):
    """A partner event about a child the MASH is working with (cf. CP-IS)."""

    alert_id: str = Field(min_length=1, max_length=64)
    kind: AlertKind
    agency_id: str = Field(min_length=1)
    agency_kind: AgencyKind
    referral_id: str | None = None
    enquiry_id: str | None = None
    person_ref: str = Field(min_length=1, description="Hub subject key, never a name")
    occurred_at: UtcDatetime
    location: str | None = Field(default=None, description="Organisation code, e.g. ODS of the ED")
    detail: str = Field(default="", max_length=2000)
    watched_because: WatchReason | None = Field(
        default=None, description="Why the child is watched; when absent the hub reads it from the referral "
                                  "or from 'watched because: ...' in detail")
    organisation: str | None = Field(default=None, max_length=200,
                                     description="Which trust or force reported it (a name or code, not a person)")
