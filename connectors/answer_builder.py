"""The one answer builder of every channel: search hits -> one ``EnquiryResponse``.

Why one builder: every agency answers with the same rules, so they are
written once and a channel with no Python of its own (``connector: records``)
gets them too. A confirmed hit releases what its record holds about that
person (the person, the findings about them, the record's flagged issues);
a candidate releases only
:func:`~mashlink.connectors.found.candidate_view` for a person
to confirm or rule out; nothing found is ``not_known``. Every finding and
match names this agency as its source, whatever the export said.

What differs between agencies is declared, not coded: the **release policy**
``linked_people`` (``config/connector_kinds.yaml``, overridable in an
agency's options) says what a confirmed record releases about the *other*
people on it:

* ``none``: nobody else; relationships only between people confirmed in the
  answer (police: a nominal's associates are not the MASH's business until
  they are themselves searched for);
* ``minimal`` (the default, data minimisation): the people a relationship on
  the record links to the matched person (or its recorded mother), as a
  minimal view, with those relationships (social care, declared channels);
* ``full``: everyone on the matched person's own record in full, with all its
  relationships (education: a pupil's contacts are who the MASH rings).

A person held on someone else's record (an unborn child on its mother's, a
parent on a pupil's) releases under ``minimal`` and ``full`` only what is
about them: their relationships and those people as a minimal view. In every
policy a relationship is released only when both its people are in the
answer through a confirmed record, so an unconfirmed candidate is never
linked to anyone; likewise a finding is released only when its subject is
(a confirmed child's own record may hold findings about a sibling the policy
withholds: those stay with the agency, data minimisation per recipient).

What must hold for an agency *kind* holds whatever channel builds its
answers (``agency_kinds.<kind>`` in the declaration): a policy beyond
``linked_people_most`` is refused (police: never ``full``), and the kind's
findings filter (police: handling codes, DND replaced by "information held")
runs after the channel's own ``release`` hook. Both are applied before record
issues are attached, so an issue about withheld material stays behind with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache
from typing import Protocol

from .base import response_id_for
from .found import candidate_view
from .registry import load_target
from ..config.connector_kinds import DEFAULT_LINKED_PEOPLE, LinkedPeople, connector_kinds
from ..schemas.codes import AgencyKind, MatchMethod, ResponseStatus
from ..schemas.enquiry import Enquiry, EnquiryResponse, ResponseRecordIssue, SubjectMatch, record_issues_of
from ..schemas.finding import Finding
from ..schemas.person import Person
from ..schemas.record import AgencyRecord
from ..schemas.relationship import Relationship

#: Findings a confirmed answer may release, in order (e.g. police DND replaced by a stand-in).
ReleaseFilter = Callable[[list[Finding]], list[Finding]]


class Verdict(Protocol):
    """What a search said about one record: ``IndexedHit`` has this shape; so does :class:`MatchVerdict`."""

    @property
    def person(self) -> Person: ...

    @property
    def confirmed(self) -> bool: ...

    @property
    def method(self) -> MatchMethod: ...

    @property
    def confidence(self) -> float: ...


@dataclass(frozen=True)
class MatchVerdict:
    """A :class:`Verdict` for a search that is not the shared index's hits (or whose method a kind renames)."""

    person: Person
    confirmed: bool
    method: MatchMethod
    confidence: float


@dataclass(frozen=True)
class RecordHit:
    """One record the matcher showed for an enquiry subject: the subject, the agency record, the verdict.

    ``hit.person`` is ``record.person``, or a person held on the record (an unborn child, a parent).
    """

    subject: Person
    record: AgencyRecord
    hit: Verdict


def linked_people_for(connector: str, override: LinkedPeople | None = None,
                      kind: AgencyKind | None = None) -> LinkedPeople:
    """The release policy an agency runs: its options' ``linked_people``, else its connector kind's declaration.

    With ``kind``, the agency kind's declaration caps the default (police: none on any channel) and
    an override beyond ``agency_kinds.<kind>.linked_people_most`` is a ValueError. A plugin connector
    (not declared) gets the default, ``minimal``.
    """
    return connector_kinds().linked_people(connector, kind, override)


@cache
def kind_release(kind: AgencyKind) -> Callable[..., list[Finding]] | None:
    """The findings filter every answer of ``kind`` goes through (``agency_kinds.<kind>.release``), if any."""
    path = connector_kinds().agency_kinds[kind].release
    return load_target(path) if path else None


@dataclass
class _Answer:
    people: dict[str, Person] = field(default_factory=dict)
    matches: list[SubjectMatch] = field(default_factory=list)
    findings: dict[str, Finding] = field(default_factory=dict)
    relationships: dict[tuple[str, str, str], Relationship] = field(default_factory=dict)
    own_records: dict[str, AgencyRecord] = field(default_factory=dict)
    confirmed: set[str] = field(default_factory=set)
    released: set[str] = field(default_factory=set)
    candidates: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class AnswerBuilder:
    """Builds this agency's answer to one enquiry from its search hits, under its release policy."""

    agency_id: str
    agency_kind: AgencyKind
    responder: str
    linked_people: LinkedPeople = DEFAULT_LINKED_PEOPLE
    release: ReleaseFilter | None = None

    def __post_init__(self) -> None:
        # What must hold for an agency kind holds whoever builds its answers (pole, records, a plugin).
        problem = connector_kinds().linked_people_problem(self.agency_kind, self.linked_people)
        if problem:
            raise ValueError(f"linked_people: {problem}")

    def _release(self, findings: list[Finding]) -> list[Finding]:
        """The channel's own filter, then its agency kind's (police: DND never leaves; idempotent)."""
        if self.release is not None:
            findings = self.release(findings)
        kind_filter = kind_release(self.agency_kind)
        if kind_filter is not None:
            findings = kind_filter(findings, contact=self.responder, agency_id=self.agency_id)
        return findings

    def build(self, enquiry: Enquiry, hits: Iterable[RecordHit], *, now: datetime | None = None,
              more_to_follow: bool = False) -> EnquiryResponse:
        """The sequence-1 answer; ``more_to_follow`` (a Model 3 task is out) makes a found answer partial."""
        answer = _Answer()
        for found in hits:
            self._add(found, answer)
        # Only findings about people the answer releases: a confirmed child's own record may hold
        # findings about a sibling the policy withholds, and those stay with the agency.
        findings = self._release([f for f in answer.findings.values() if f.subject_person_id in answer.released])
        released_ids = {f.finding_id for f in findings}
        issues: list[ResponseRecordIssue] = [
            i for record in answer.own_records.values()
            for i in record_issues_of(record, self.agency_id, released_ids)]
        relationships = [r for r in answer.relationships.values()
                         if r.from_person_id in answer.released and r.to_person_id in answer.released]
        if not answer.matches:
            status = ResponseStatus.NOT_KNOWN
        else:
            status = ResponseStatus.PARTIAL if more_to_follow else ResponseStatus.INFORMATION_FOUND
        pending = sorted(answer.candidates - answer.confirmed)
        note = (f"{len(pending)} possible record(s) need confirmation before anything is shared about them."
                if pending else None)
        return EnquiryResponse(
            response_id=response_id_for(enquiry.enquiry_id, self.agency_id, 1),
            enquiry_id=enquiry.enquiry_id, referral_id=enquiry.referral_id,
            agency_id=self.agency_id, agency_kind=self.agency_kind, status=status,
            people=list(answer.people.values()), matches=answer.matches,
            findings=findings, relationships=relationships,
            record_issues=issues, responder=self.responder,
            responded_at=now or datetime.now(timezone.utc), sequence=1, more_to_follow=more_to_follow,
            note=note)

    def _add(self, found: RecordHit, answer: _Answer) -> None:
        record, hit = found.record, found.hit
        person = hit.person
        if hit.confirmed:
            self._confirm(record, person, answer)
        else:
            answer.candidates.add(person.person_id)
            answer.people.setdefault(person.person_id, candidate_view(person))
        answer.matches.append(SubjectMatch(
            subject_person_id=found.subject.person_id, record_person_id=person.person_id,
            source=record.source.model_copy(update={"agency_id": self.agency_id}),
            method=hit.method, confidence=hit.confidence, candidate=not hit.confirmed))

    def _confirm(self, record: AgencyRecord, person: Person, answer: _Answer) -> None:
        pid = person.person_id
        answer.confirmed.add(pid)
        answer.released.add(pid)
        answer.people[pid] = person  # shown in full even if it was a candidate for another subject
        own = pid == record.person.person_id
        if own:
            answer.own_records.setdefault(pid, record)
        for finding in record.findings:
            # A person held on someone else's record (a parent, an unborn child): only what is about them.
            if own or finding.subject_person_id == pid:
                answer.findings[finding.finding_id] = finding.model_copy(
                    update={"source": finding.source.model_copy(update={"agency_id": self.agency_id})})
        full = own and self.linked_people == "full"
        rels = [r for r in record.relationships if full or pid in (r.from_person_id, r.to_person_id)]
        for rel in rels:
            answer.relationships.setdefault((rel.from_person_id, rel.to_person_id, rel.type.value), rel)
        if self.linked_people == "none":
            return
        linked = {end for r in rels for end in (r.from_person_id, r.to_person_id)}
        if person.mother_person_id:
            linked.add(person.mother_person_id)
        for other in (record.person, *record.related_people):
            if other.person_id == pid or not (full or other.person_id in linked):
                continue
            answer.released.add(other.person_id)
            if full:
                answer.people[other.person_id] = other
            else:
                answer.people.setdefault(other.person_id, candidate_view(other))
