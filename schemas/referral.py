"""Referrals: a concern about one or more children, as the MASH receives it.

The lawful basis and consent position travel with the referral (and every
enquiry made from it) because each partner must be able to see why it is
being asked to share, and a case review must be able to see why consent was
not sought.

``purpose`` says which safeguarding stage the sharing serves. It defaults to
``mash_screening`` because that is what a referral arriving at the MASH is
for until screening decides otherwise (early help, s17 assessment, strategy
discussion and s47 enquiry, immediate protection): a referrer or connector
that does not say is, by definition, asking the MASH to screen. The default
is explicit in every dump and in the JSON Schema, never absent.

Keep and flag (issue 18). A referral built by an agency connector from the
agency's native data (police CCTN / PPN) is the agency's account: a subject
whose native values break a cross-field rule (death before birth, an end
before its start) is kept, the contradicted value left out and a
``RecordIssue`` added to ``issues``, exactly as for an ``AgencyRecord``
(``Referral.from_agency``). A referral typed into the hub's own API or form is
validated strictly: a person can correct what they typed, so clearly invalid
input is refused with an error naming the field and the rule.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from .base import CanonicalModel, UtcDatetime, rule_error
from .codes import (
    Classification,
    ConcernCategory,
    ConsentStatus,
    LawfulBasis,
    Purpose,
    Rag,
    ReferralSource,
)
from .person import Person
from .record import RecordIssue, validate_keeping_and_flagging
from .relationship import Relationship


class RagChange(CanonicalModel):
    """One rating decision; the history shows who re-rated and why."""

    rag: Rag
    at: UtcDatetime
    by: str = Field(min_length=1)
    reason: str = Field(default="", max_length=2000)


#: Statuses under which sharing goes ahead without consent: the decision must be on record.
CONSENT_DECISION_STATUSES: frozenset[ConsentStatus] = frozenset(
    {ConsentStatus.NOT_SOUGHT, ConsentStatus.REFUSED, ConsentStatus.OVERRIDDEN}
)
#: The fields that record that decision, and what each says.
CONSENT_DECISION_FIELDS: dict[str, str] = {
    "reason": "why (e.g. seeking consent would place the child at risk)",
    "decided_by": "who decided",
    "decided_at": "when it was decided",
    "authorised_by": "who authorised it (e.g. the MASH manager or team leader)",
}


class Consent(CanonicalModel):
    """The consent position and, when sharing goes ahead without consent, the decision.

    ``given`` needs nothing more. ``not_sought``, ``refused`` and
    ``overridden`` each require ``reason`` (why), ``decided_by`` (who),
    ``decided_at`` (when) and ``authorised_by`` (who authorised it), because a
    case review must be able to see why the family's consent was not the basis
    for sharing and who took responsibility for that (see ``ConsentStatus``).
    ``recorded_by`` is who entered the record, which need not be the decider.
    """

    # The same rule in the exported JSON Schema, for agencies that do not validate in Python.
    model_config = ConfigDict(json_schema_extra={
        "if": {"properties": {"status": {"enum": sorted(s.value for s in CONSENT_DECISION_STATUSES)}},
               "required": ["status"]},
        "then": {"required": list(CONSENT_DECISION_FIELDS),
                 "properties": {name: {"type": "string", "pattern": r"\S"} for name in CONSENT_DECISION_FIELDS}},
    })

    status: ConsentStatus
    reason: str | None = Field(default=None, max_length=2000, description="Why consent was not sought or not followed")
    recorded_by: str | None = None
    decided_by: str | None = Field(default=None, max_length=200,
                                   description="Who decided not to seek consent or to share without it")
    decided_at: UtcDatetime | None = Field(default=None, description="When that decision was made")
    authorised_by: str | None = Field(default=None, max_length=200,
                                      description="Who authorised the decision (manager or team leader)")

    @model_validator(mode="after")
    def _decision_recorded(self) -> "Consent":
        if self.status not in CONSENT_DECISION_STATUSES:
            return self
        missing = [name for name in CONSENT_DECISION_FIELDS if getattr(self, name) in (None, "")]
        if missing:
            raise ValidationError.from_exception_data("Consent", [
                InitErrorDetails(
                    type=PydanticCustomError(
                        "consent_reason_required" if name == "reason" else "consent_decision_required",
                        f"consent {self.status.value}: {name} must be recorded: "
                        f"{CONSENT_DECISION_FIELDS[name]}",
                    ),
                    loc=(name,), input=getattr(self, name),
                )
                for name in missing
            ])
        return self


#: The earliest a referral can have been received: the working-hours calendar counts from 1971.
EARLIEST_RECEIVED = datetime(1971, 1, 1, tzinfo=timezone.utc)


class Referral(CanonicalModel):
    """A contact/referral with its subjects, household and rating."""

    referral_id: str = Field(min_length=1, max_length=64)
    received_at: UtcDatetime
    local_authority: str = Field(min_length=1, max_length=16, description="LA code the MASH serves")
    source: ReferralSource
    referrer: str = Field(min_length=1, max_length=200, description="Referring organisation or role")
    concerns: list[ConcernCategory] = Field(min_length=1)
    narrative: str = Field(default="", max_length=20000)
    subjects: list[Person] = Field(min_length=1, description="The children (unborn included)")
    household: list[Person] = Field(default_factory=list, description="Adults and other household members")
    relationships: list[Relationship] = Field(default_factory=list)
    rag_history: list[RagChange] = Field(min_length=1)
    purpose: Purpose = Field(
        default=Purpose.MASH_SCREENING,
        description="Why the MASH is asking (the safeguarding stage); mash_screening when not given",
    )
    lawful_basis: list[LawfulBasis] = Field(min_length=1)
    consent: Consent
    classification: Classification = Classification.OFFICIAL_SENSITIVE
    issues: list[RecordIssue] = Field(
        default_factory=list,
        description="Data-quality issues kept from an agency's native values (keep and flag): only on referrals "
        "an agency connector built from its records; the hub's own API refuses such input instead",
    )

    @classmethod
    def from_agency(cls, data: Any) -> "Referral":
        """Validate a referral an agency connector built from native data, keeping and flagging inconsistencies.

        Native values that break a cross-field rule listed in
        ``schemas.record.NATIVE_INCONSISTENCIES`` (death before birth, an end
        before its start, ...) are left out and named in ``issues``; any other
        error is raised as usual. The hub's API does not use this: typed input
        is refused with the error instead (see the module docstring).
        """
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            return validate_keeping_and_flagging(data, cls.model_validate, exc)

    @property
    def rag(self) -> Rag:
        """The current rating: the latest in the history (on a tie, the later entry)."""
        return max(enumerate(self.rag_history), key=lambda item: (item[1].at, item[0]))[1].rag

    @model_validator(mode="after")
    def _consistent(self) -> "Referral":
        if self.received_at < EARLIEST_RECEIVED:
            # The decision clock starts at received_at; a year-3 or 1950 date is a keying error, and the
            # working-hours calendar (bank holidays from 1971) could not count from it.
            raise rule_error(
                "Referral", ("received_at",), "received_at_too_early",
                f"received_at must be on or after {EARLIEST_RECEIVED:%Y-%m-%d}", self.received_at.isoformat(),
            )
        known: set[str] = set()
        for group in ("subjects", "household"):
            for i, person in enumerate(getattr(self, group)):
                if person.person_id in known:
                    raise rule_error(
                        "Referral",
                        (group, i, "person_id"),
                        "person_id_duplicate",
                        "person_id values must be unique across subjects and household",
                        person.person_id,
                    )
                known.add(person.person_id)
        for i, rel in enumerate(self.relationships):
            for end in ("from_person_id", "to_person_id"):
                if getattr(rel, end) not in known:
                    raise rule_error(
                        "Referral",
                        ("relationships", i, end),
                        "unknown_person_id",
                        "relationship refers to a person_id that is not among subjects or household",
                        getattr(rel, end),
                    )
        for i, person in enumerate(self.subjects):
            if person.unborn and person.mother_person_id and person.mother_person_id not in known:
                raise rule_error(
                    "Referral",
                    ("subjects", i, "mother_person_id"),
                    "unknown_person_id",
                    "mother_person_id is not among subjects or household",
                    person.mother_person_id,
                )
        return self


def latest(changes: list[RagChange]) -> datetime:
    return max(change.at for change in changes)
