"""What travels to and from the agency's own tool (Model 3).

A :class:`DeliveryTask` is the enquiry as a JSON task (web-hook body or
worklist file). An :class:`AgencyAnswer` is what the agency's tool sends back:
close to the canonical response, but the connector fills in what the agency
cannot be trusted to state (its agency id and kind, provenance, ids,
sequence numbering) and applies the agency's release rules, so a tool cannot
answer for another agency or for an enquiry it was never sent.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ...schemas.codes import FindingCategory, HandlingCode, MatchMethod, Reliability, ResponseStatus, Sensitivity
from ...schemas.enquiry import Enquiry
from ...schemas.person import Person
from ...schemas.relationship import Relationship

TASK_KIND = "mashlink.enquiry_task"
ANSWER_KIND = "mashlink.enquiry_answer"


class DeliveryTask(BaseModel):
    """The enquiry as it lands in the agency's tool."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["mashlink.enquiry_task"] = TASK_KIND
    version: Literal["1"] = "1"
    task_id: str = Field(min_length=1, max_length=64, description="= enquiry_id (idempotency key)")
    agency_id: str = Field(min_length=1, max_length=64)
    delivered_at: AwareDatetime
    answer_by: AwareDatetime = Field(description="The enquiry's due time")
    reply_to: str | None = Field(default=None, description="Web hook: URL to POST the signed answer to")
    enquiry: Enquiry


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AnswerFinding(_Answer):
    finding_id: str = Field(min_length=1, max_length=96)
    subject_person_id: str = Field(min_length=1, description="person_id in the answer's people")
    category: FindingCategory
    record_id: str = Field(min_length=1, max_length=128, description="The agency system's record id")
    start: date | AwareDatetime | None = None
    end: date | AwareDatetime | None = None
    summary: str = Field(default="", max_length=4000)
    codes: list[str] = Field(default_factory=list)
    attributes: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    sensitivity: Sensitivity = Sensitivity.STANDARD
    handling_code: HandlingCode | None = None
    reliability: Reliability = Reliability.RELIABLE
    contact: str | None = None


class AnswerMatch(_Answer):
    subject_person_id: str = Field(min_length=1, description="person_id in the enquiry")
    record_person_id: str = Field(min_length=1, description="person_id in the answer's people")
    method: MatchMethod = MatchMethod.MANUAL
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    candidate: bool = False


class AgencyAnswer(_Answer):
    """The agency's answer to one task; ``sequence`` counts the agency's own answers (1, 2, ...)."""

    kind: Literal["mashlink.enquiry_answer"] = ANSWER_KIND
    enquiry_id: str = Field(min_length=1, max_length=64)
    agency_id: str = Field(min_length=1, max_length=64)
    sequence: int = Field(default=1, ge=1, le=1000)
    status: ResponseStatus
    declined_reason: str | None = Field(default=None, max_length=2000)
    responder: str = Field(min_length=1, max_length=200, description="Team or role, not a person's name")
    answered_at: AwareDatetime
    more_to_follow: bool = False
    note: str | None = Field(default=None, max_length=4000)
    people: list[Person] = Field(default_factory=list)
    matches: list[AnswerMatch] = Field(default_factory=list)
    findings: list[AnswerFinding] = Field(default_factory=list)
    relationships: list[Relationship] = Field(default_factory=list)


def json_path(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as a JSON path: ('findings', 0, 'category') -> $.findings[0].category."""
    out = "$"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out
