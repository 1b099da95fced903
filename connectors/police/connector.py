"""The police connector: searches the force's POLE records and answers enquiries.

Model 2: every enquiry subject is searched by name, date of birth, address
and police identifiers; confirmed matches release their findings through the
handling-code rules (:mod:`~mashlink.connectors.police.release`: DND never
leaves); uncertain matches come back as *candidates* with a minimal view of
the record and no findings, for a person to confirm. Model 3 (optional): the
enquiry is also delivered into the police MASH team's own tool (web hook or
drop folder, :mod:`mashlink.connectors.delivery`); the first answer then says
more is to follow, and the team's answer arrives later as a follow-up.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from ..base import PermanentEnquiryError, response_id_for
from ..delivery.connector import Model3Delivery
from .release import release_findings
from .store import PoleStore
from ..reference.connector import candidate_view
from ...schemas.codes import AgencyKind, ResponseStatus
from ...schemas.enquiry import Enquiry, EnquiryResponse, SubjectMatch, record_issues_of
from ...schemas.finding import Finding, SourceRef
from ...schemas.person import Person
from ...schemas.record import AgencyRecord
from ...schemas.relationship import Relationship


class PoliceOptions(BaseModel):
    """``AgencyConfig.options`` of a police connector."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    responder: str = Field(default="Police MASH team", min_length=1)
    contact: str = Field(default="Police MASH team", min_length=1,
                         description="Whom the MASH contacts about withheld (DND) or conditional material")


class PoliceConnector:
    """``AgencyConnector`` over a :class:`PoleStore`; thread-safe (the store is read-only)."""

    agency_kind = AgencyKind.POLICE

    def __init__(self, agency_id: str, store: PoleStore, options: PoliceOptions | None = None, *,
                 delivery: Model3Delivery | None = None) -> None:
        self.agency_id = agency_id
        self.store = store
        self.options = options or PoliceOptions()
        self.delivery = delivery

    def handle(self, enquiry: Enquiry) -> list[EnquiryResponse]:
        if enquiry.agency_id != self.agency_id or enquiry.agency_kind is not AgencyKind.POLICE:
            raise PermanentEnquiryError(f"enquiry is not for police agency {self.agency_id}")
        task_note = None
        if self.delivery is not None:
            receipt = self.delivery.deliver(enquiry)
            task_note = f"Delivered to the police MASH team's tool ({receipt}); their answer will follow."
        response = self.search_response(enquiry, more_to_follow=self.delivery is not None)
        if task_note:
            response = response.model_copy(update={"note": " ".join(x for x in (response.note, task_note) if x)})
        return [response]

    def search_response(self, enquiry: Enquiry, *, more_to_follow: bool = False) -> EnquiryResponse:
        """Sequence 1: what the force's records say about the subjects, DND withheld."""
        by_id = {s.person_id: s for s in enquiry.subjects}
        people: dict[str, Person] = {}
        matches: list[SubjectMatch] = []
        confirmed: dict[str, AgencyRecord] = {}
        for subject in enquiry.subjects:
            mother = by_id.get(subject.mother_person_id) if subject.mother_person_id else None
            for match in self.store.search(subject, subject_mother=mother):
                record = match.record
                rid = record.person.person_id
                if not match.candidate:
                    confirmed[rid] = record
                    people[rid] = record.person
                matches.append(SubjectMatch(
                    subject_person_id=subject.person_id, record_person_id=rid,
                    source=self._source(record.source), method=match.method,
                    confidence=round(match.confidence, 4), candidate=match.candidate))
        for m in matches:  # a record that is only a candidate is shown minimally
            if m.record_person_id not in people:
                people[m.record_person_id] = candidate_view(self.store.record(m.record_person_id).person)
        findings: list[Finding] = [f for r in confirmed.values() for f in r.findings]
        released = release_findings(findings, contact=self.options.contact, agency_id=self.agency_id)
        relationships = self._relationships(confirmed, set(confirmed))
        candidates = sorted({m.record_person_id for m in matches if m.candidate} - set(confirmed))
        note = (f"{len(candidates)} possible record(s) need confirmation before anything is shared about them."
                if candidates else None)
        if not matches:
            status = ResponseStatus.NOT_KNOWN
        elif more_to_follow:
            status = ResponseStatus.PARTIAL
        else:
            status = ResponseStatus.INFORMATION_FOUND
        return EnquiryResponse(
            response_id=response_id_for(enquiry.enquiry_id, self.agency_id, 1),
            enquiry_id=enquiry.enquiry_id, referral_id=enquiry.referral_id, agency_id=self.agency_id,
            agency_kind=AgencyKind.POLICE, status=status, people=list(people.values()), matches=matches,
            findings=released if matches else [], relationships=relationships,
            record_issues=[i for r in confirmed.values() for i in record_issues_of(
                r, self.agency_id, {f.finding_id for f in released})] if matches else [],
            responder=self.options.responder,
            responded_at=datetime.now(UTC), sequence=1, more_to_follow=more_to_follow, note=note,
        )

    def _source(self, source: SourceRef) -> SourceRef:
        return source.model_copy(update={"agency_id": self.agency_id})

    @staticmethod
    def _relationships(confirmed: dict[str, AgencyRecord], people: set[str]) -> list[Relationship]:
        """Relationships the force records between people already in the answer (no new people)."""
        out: dict[tuple[str, str, str], Relationship] = {}
        for record in confirmed.values():
            for rel in record.relationships:
                if rel.from_person_id in people and rel.to_person_id in people:
                    out.setdefault((rel.from_person_id, rel.to_person_id, rel.type.value), rel)
        return list(out.values())
