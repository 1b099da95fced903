"""What the hub façade returns: small pydantic models, safe to serialise in the API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from ..schemas.codes import AgencyKind, OutcomeType, Rag
from ..schemas.decision import Decision
from ..schemas.referral import RagChange


class SentEnquiry(BaseModel):
    enquiry_id: str
    agency_id: str
    agency_kind: AgencyKind
    rag: Rag
    requested_at: datetime
    due_at: datetime
    at_risk_at: datetime
    message_id: str
    withheld_fields: list[str] = Field(default_factory=list, description="Fields removed by the sharing policy")


class SubmitResult(BaseModel):
    referral_id: str
    rag: Rag
    enquiries: list[SentEnquiry]

    @property
    def enquiry_ids(self) -> list[str]:
        return [e.enquiry_id for e in self.enquiries]

    def enquiry_for(self, agency_id: str) -> SentEnquiry:
        for enquiry in self.enquiries:
            if enquiry.agency_id == agency_id:
                return enquiry
        raise KeyError(f"no enquiry to agency {agency_id!r}")


class RerateResult(BaseModel):
    referral_id: str
    previous_rag: Rag
    rag: Rag
    resent: list[SentEnquiry]


class OutcomeSent(BaseModel):
    outcome_id: str
    recipient: str
    routing_key: str
    message_id: str


class DecisionResult(BaseModel):
    decision_id: str
    referral_id: str
    outcome: OutcomeType
    outcomes: list[OutcomeSent]
    withdrawn_enquiries: list[str]


class EnquiryState(BaseModel):
    enquiry_id: str
    agency_id: str
    agency_kind: AgencyKind
    rag: Rag
    status: str
    last_response_status: str | None
    responses: int
    requested_at: datetime
    due_at: datetime
    at_risk_at: datetime
    answered_at: datetime | None
    at_risk_raised_at: datetime | None
    overdue_raised_at: datetime | None


class ReferralStatus(BaseModel):
    referral_id: str
    status: str
    rag: Rag
    received_at: datetime
    submitted_at: datetime
    closed_at: datetime | None
    closed_reason: str | None
    rag_history: list[RagChange]
    enquiries: list[EnquiryState]
    decision: Decision | None = None

    @property
    def outstanding(self) -> list[str]:
        return [e.agency_id for e in self.enquiries if e.status in ("open", "partial", "overdue")]


class EnquiryStatRow(BaseModel):
    agency_id: str
    rag: Rag
    open: int = Field(description="Outstanding: no final answer yet (overdue included)")
    at_risk: int = Field(description="Outstanding, past the at-risk time, not yet due")
    overdue: int = Field(description="Outstanding and past the due time")


class OpenEnquiryStats(BaseModel):
    at: datetime
    rows: list[EnquiryStatRow]

    @property
    def total_open(self) -> int:
        return sum(r.open for r in self.rows)

    @property
    def total_at_risk(self) -> int:
        return sum(r.at_risk for r in self.rows)

    @property
    def total_overdue(self) -> int:
        return sum(r.overdue for r in self.rows)


class TickResult(BaseModel):
    at: datetime
    at_risk: int = 0
    overdue: int = 0
    referrals_closed: int = 0

    @property
    def raised(self) -> int:
        return self.at_risk + self.overdue
