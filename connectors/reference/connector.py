"""The reference connector: answers enquiries from a simulated agency system.

It does what a real connector does, against the simulator instead of a
native system: delivers the enquiry into the agency's worklist, searches for
every subject, and builds the answer with provenance and match confidence.

Rules it applies (the hub applies its own policy again on receipt):

* only *confirmed* matches release findings; uncertain matches are returned
  as candidates (match plus a minimal view of the record, no findings) for
  a person to confirm;
* nothing matched -> ``not_known``;
* ``decline_reason`` set -> every enquiry is ``declined`` with that reason;
* ``follow_up_categories`` -> findings in those categories are held back
  from the first answer (``partial``, ``more_to_follow``) and sent as a
  follow-up with ``sequence`` 2, so the hub's merge path is exercised;
* subclasses add agency rules (police DND, live investigations).
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..base import PermanentEnquiryError, response_id_for
from ..found import candidate_view
from ..simulators.base import AgencySimulator, SimRecord
from ..simulators.matching import MatchResult
from ...schemas.codes import AgencyKind, FindingCategory, ResponseStatus
from ...schemas.enquiry import Enquiry, EnquiryResponse, SubjectMatch
from ...schemas.finding import Finding
from ...schemas.person import Person


class ReferenceOptions(BaseModel):
    """``AgencyConfig.options`` understood by the reference connector."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    responder: str | None = Field(default=None, description="Team that answers; default '<kind> MASH team'")
    deliver_to_worklist: bool = Field(default=True, description="Model 3: put a task in the agency's tool")
    follow_up_categories: frozenset[FindingCategory] | None = Field(
        default=None, description="Sent later as sequence 2; None = the agency kind's default"
    )
    decline_reason: str | None = Field(default=None, min_length=1, max_length=2000,
                                       description="Decline every enquiry with this reason")
    decline_live_investigations: bool = Field(default=True, description="Police: decline if an investigation is live")
    police_mash_contact: str = Field(default="Police MASH team", min_length=1)
    population_seed: int = Field(default=20240901, description="Seed of the simulated population")
    population_as_of: date | None = Field(
        default=None, description="Anchor date of the population (default today); pin it when processes must agree"
    )
    population_fillers: int = Field(default=8, ge=0, le=500)


class ReferenceConnector:
    """Answers from an :class:`AgencySimulator`; thread-safe (the simulator is read-only but for its worklist)."""

    #: Follow-up categories when ``ReferenceOptions.follow_up_categories`` is None.
    default_follow_up: frozenset[FindingCategory] = frozenset()
    #: The simulated system is in memory: answers need no worker thread (see ``AgencyConnector``).
    answers_inline = True

    def __init__(self, agency_id: str, simulator: AgencySimulator, options: ReferenceOptions | None = None) -> None:
        self.agency_id = agency_id
        self.agency_kind: AgencyKind = simulator.kind
        self.simulator = simulator
        self.options = options or ReferenceOptions()
        self.responder = self.options.responder or f"{self.agency_kind.value.replace('_', ' ').title()} MASH team"
        follow = self.options.follow_up_categories
        self.follow_up = self.default_follow_up if follow is None else follow
        wrong = sorted(c.value for c in self.follow_up if c.agency_kind is not self.agency_kind)
        if wrong:
            raise ValueError(f"follow_up_categories {wrong} are not {self.agency_kind.value} categories")

    # -- the connector interface ---------------------------------------------------
    def handle(self, enquiry: Enquiry) -> list[EnquiryResponse]:
        if enquiry.agency_id != self.agency_id:
            raise PermanentEnquiryError(f"enquiry.agency_id is not this connector's agency ({self.agency_id})")
        if enquiry.agency_kind is not self.agency_kind:
            raise PermanentEnquiryError(
                f"enquiry.agency_kind {enquiry.agency_kind.value} is not {self.agency_kind.value}"
            )
        if self.options.deliver_to_worklist:
            self.simulator.deliver(enquiry)
        now = datetime.now(timezone.utc)
        if self.options.decline_reason:
            return [self._declined(enquiry, self.options.decline_reason, now)]

        found = self.search(enquiry)
        confirmed = {m.record.record_id: m.record for _s, m in found if not m.candidate}
        decline = self.decline_reason_for(enquiry, list(confirmed.values()))
        if decline:
            return [self._declined(enquiry, decline, now)]
        if not found:
            return [self._response(enquiry, 1, ResponseStatus.NOT_KNOWN, now, [], [], [])]

        people: dict[str, Person] = {}
        matches: list[SubjectMatch] = []
        for subject, match in found:
            if match.record.record_id in confirmed:
                people[match.record.record_id] = match.person
            else:
                people.setdefault(match.record.record_id, candidate_view(match.person))
            matches.append(
                SubjectMatch(
                    subject_person_id=subject.person_id,
                    record_person_id=match.record.record_id,
                    source=self.simulator.source(match.record.record_id),
                    method=match.method,
                    confidence=match.confidence,
                    candidate=match.candidate,
                )
            )
        findings = self.release([f for rec in confirmed.values() for f in rec.findings], confirmed)
        candidates = sorted({m.record_person_id for m in matches if m.candidate} - set(confirmed))
        note = (
            f"{len(candidates)} possible record(s) need confirmation before anything is shared about them."
            if candidates else None
        )
        now_part = [f for f in findings if f.category not in self.follow_up]
        later = [f for f in findings if f.category in self.follow_up]
        if not later:
            return [self._response(enquiry, 1, ResponseStatus.INFORMATION_FOUND, now, list(people.values()),
                                   matches, findings, note=note)]
        # Partial now; the held-back categories follow as sequence 2.
        later_people = {f.subject_person_id for f in later}
        first = self._response(enquiry, 1, ResponseStatus.PARTIAL, now, list(people.values()), matches, now_part,
                               more=True, note=note or "Further information to follow.")
        second = self._response(
            enquiry, 2, ResponseStatus.INFORMATION_FOUND, now,
            [p for pid, p in people.items() if pid in later_people],
            [m for m in matches if m.record_person_id in later_people], later,
        )
        return [first, second]

    # -- steps subclasses may refine -----------------------------------------------
    def search(self, enquiry: Enquiry) -> list[tuple[Person, MatchResult[SimRecord]]]:
        """Every (subject, record) pair found, best first per subject."""
        by_id = {s.person_id: s for s in enquiry.subjects}
        out = []
        for subject in enquiry.subjects:
            mother = by_id.get(subject.mother_person_id) if subject.mother_person_id else None
            for match in self.simulator.search(subject, subject_mother=mother):
                out.append((subject, match))
        return out

    def decline_reason_for(self, enquiry: Enquiry, records: list[SimRecord]) -> str | None:
        """A reason to decline the whole enquiry, or None to answer it."""
        return None

    def release(self, findings: list[Finding], records: dict[str, SimRecord]) -> list[Finding]:
        """Agency rules on what may leave the agency (identity here; police withholds DND)."""
        return findings

    # -- building responses ----------------------------------------------------------
    def _response(
        self, enquiry: Enquiry, sequence: int, status: ResponseStatus, now: datetime, people: list[Person],
        matches: list[SubjectMatch], findings: list[Finding], *, more: bool = False, note: str | None = None,
        declined_reason: str | None = None,
    ) -> EnquiryResponse:
        return EnquiryResponse(
            response_id=response_id_for(enquiry.enquiry_id, self.agency_id, sequence),
            enquiry_id=enquiry.enquiry_id,
            referral_id=enquiry.referral_id,
            agency_id=self.agency_id,
            agency_kind=self.agency_kind,
            status=status,
            declined_reason=declined_reason,
            people=people,
            matches=matches,
            findings=findings,
            responder=self.responder,
            responded_at=now,
            sequence=sequence,
            more_to_follow=more,
            note=note,
        )

    def _declined(self, enquiry: Enquiry, reason: str, now: datetime) -> EnquiryResponse:
        return self._response(enquiry, 1, ResponseStatus.DECLINED, now, [], [], [], declined_reason=reason)

    @classmethod
    def options_from(cls, raw: dict[str, Any] | None) -> ReferenceOptions:
        return ReferenceOptions.model_validate(raw or {})
