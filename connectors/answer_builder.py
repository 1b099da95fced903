"""The generic answer builder of a declared channel: search hits -> one ``EnquiryResponse``.

Why one builder: every agency answers with the same rules, so a channel with
no Python of its own (``connector: records``) needs them written once.
A confirmed hit releases what its record holds about that person (the
person, the people named by released relationships as a minimal view, the
findings about them, the record's flagged issues); a candidate releases only
:func:`~mashlink.connectors.reference.connector.candidate_view` for a person
to confirm or rule out; nothing found is ``not_known``. Every finding and
match names this agency as its source, whatever the export said.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .base import response_id_for
from .indexed_search import IndexedHit
from .reference.connector import candidate_view
from ..schemas.codes import AgencyKind, ResponseStatus
from ..schemas.enquiry import Enquiry, EnquiryResponse, ResponseRecordIssue, SubjectMatch, record_issues_of
from ..schemas.finding import Finding
from ..schemas.person import Person
from ..schemas.record import AgencyRecord
from ..schemas.relationship import Relationship


@dataclass(frozen=True)
class RecordHit:
    """One record the matcher showed for an enquiry subject: the subject, the agency record, the verdict."""

    subject: Person
    record: AgencyRecord
    hit: IndexedHit


@dataclass
class _Answer:
    people: dict[str, Person] = field(default_factory=dict)
    matches: list[SubjectMatch] = field(default_factory=list)
    findings: dict[str, Finding] = field(default_factory=dict)
    relationships: list[Relationship] = field(default_factory=list)
    issues: list[ResponseRecordIssue] = field(default_factory=list)
    confirmed: set[str] = field(default_factory=set)
    candidates: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class AnswerBuilder:
    """Builds this agency's answer to one enquiry from its search hits."""

    agency_id: str
    agency_kind: AgencyKind
    responder: str

    def build(self, enquiry: Enquiry, hits: Iterable[RecordHit], *, now: datetime | None = None) -> EnquiryResponse:
        answer = _Answer()
        for found in hits:
            self._add(found, answer)
        status = ResponseStatus.INFORMATION_FOUND if answer.matches else ResponseStatus.NOT_KNOWN
        pending = sorted(answer.candidates - answer.confirmed)
        note = (f"{len(pending)} possible record(s) need confirmation before anything is shared about them."
                if pending else None)
        return EnquiryResponse(
            response_id=response_id_for(enquiry.enquiry_id, self.agency_id, 1),
            enquiry_id=enquiry.enquiry_id, referral_id=enquiry.referral_id,
            agency_id=self.agency_id, agency_kind=self.agency_kind, status=status,
            people=list(answer.people.values()), matches=answer.matches,
            findings=list(answer.findings.values()), relationships=answer.relationships,
            record_issues=answer.issues, responder=self.responder,
            responded_at=now or datetime.now(timezone.utc), sequence=1, note=note)

    def _add(self, found: RecordHit, answer: _Answer) -> None:
        record, person, hit = found.record, found.hit.person, found.hit
        if hit.confirmed:
            first = person.person_id not in answer.confirmed
            answer.confirmed.add(person.person_id)
            answer.people[person.person_id] = person
            own = person.person_id == record.person.person_id
            # A person held on someone else's record (a parent, an unborn child): only what is about them.
            rels = [r for r in record.relationships if own or person.person_id in (r.from_person_id, r.to_person_id)]
            ends = {pid for r in rels for pid in (r.from_person_id, r.to_person_id)}
            for related in (record.person, *record.related_people):
                if related.person_id == person.person_id:
                    continue
                if own:
                    answer.people[related.person_id] = related
                elif related.person_id in ends:
                    answer.people.setdefault(related.person_id, candidate_view(related))
            for finding in record.findings:
                if own or finding.subject_person_id == person.person_id:
                    answer.findings[finding.finding_id] = finding.model_copy(
                        update={"source": finding.source.model_copy(update={"agency_id": self.agency_id})})
            answer.relationships.extend(r for r in rels if r not in answer.relationships)
            if own and first:
                answer.issues.extend(record_issues_of(record, self.agency_id))
        else:
            answer.candidates.add(person.person_id)
            answer.people.setdefault(person.person_id, candidate_view(person))
        answer.matches.append(SubjectMatch(
            subject_person_id=found.subject.person_id, record_person_id=person.person_id,
            source=record.source.model_copy(update={"agency_id": self.agency_id}),
            method=hit.method, confidence=hit.confidence, candidate=not hit.confirmed))
