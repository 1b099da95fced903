"""The education connector: answers MASH enquiries from the CTF pupil index.

Model 2 (search): CTF files dropped by schools or the LA education system
are ingested into the pupil index; each enquiry subject is searched by UPN or
demographics and the answer carries the pupil's findings with provenance.
Search is the shared matcher (``MatchIndex`` behind the pupil index; see
``search.py``). Rules, as in every connector: only confirmed matches release findings and
contacts; uncertain matches come back as candidates (a minimal view, no
findings) for a person to confirm; nothing found -> ``not_known``.

Model 3 delivery (a task in the education team's own tool) is the delivery
helper's job (``connectors/delivery``) and composes with this class.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..base import PermanentEnquiryError, response_id_for
from .formats import ctf_spec_path
from .index import PupilIndex
from .ingest import CtfIngest, IngestReport
from .search import PupilHit, search_pupils
from ..indexed_search import mother_in_enquiry
from ..reference.connector import candidate_view
from ...matching.rules import DEFAULT_THRESHOLDS, MatchThresholds
from ...mapping import CompiledMapping, load_spec
from ...schemas.codes import AgencyKind, ResponseStatus
from ...schemas.enquiry import Enquiry, EnquiryResponse, ResponseRecordIssue, SubjectMatch, record_issues_of
from ...schemas.finding import Finding
from ...schemas.person import Person
from ...schemas.relationship import Relationship


class EducationOptions(BaseModel):
    """``AgencyConfig.options`` for the ``ctf`` connector."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    state_dir: Path = Field(description="Where the pupil index lives (index.sqlite3)")
    drop_folder: Path | None = Field(default=None, description="CTF drop folder root (incoming/processed/failed)")
    spec: Path | None = Field(default=None, description="Mapping spec; default config/mappings/ctf.yaml")
    responder: str = Field(default="Education MASH team", min_length=1)
    ingest_on_enquiry: bool = Field(default=True, description="Ingest pending drops before each search")


class EducationConnector:
    """Implements :class:`mashlink.connectors.base.AgencyConnector` over a :class:`PupilIndex`."""

    agency_kind: AgencyKind = AgencyKind.EDUCATION

    def __init__(self, agency_id: str, index: PupilIndex, *, mapping: CompiledMapping | None = None,
                 drop_folder: CtfIngest | None = None, responder: str = "Education MASH team",
                 ingest_on_enquiry: bool = True, thresholds: MatchThresholds = DEFAULT_THRESHOLDS) -> None:
        self.agency_id = agency_id
        self.index = index
        self.mapping = mapping or load_spec(ctf_spec_path())
        self.drop_folder = drop_folder
        self.responder = responder
        self.ingest_on_enquiry = ingest_on_enquiry
        self.thresholds = thresholds
        self._ingest_lock = threading.Lock()

    @classmethod
    def from_options(cls, agency_id: str, options: EducationOptions | dict[str, Any]) -> "EducationConnector":
        opts = options if isinstance(options, EducationOptions) else EducationOptions.model_validate(options)
        return cls(
            agency_id,
            PupilIndex(opts.state_dir / "index.sqlite3"),
            mapping=load_spec(opts.spec or ctf_spec_path()),
            drop_folder=CtfIngest(opts.drop_folder) if opts.drop_folder else None,
            responder=opts.responder,
            ingest_on_enquiry=opts.ingest_on_enquiry,
        )

    def ingest_pending(self) -> IngestReport:
        """Ingest whatever is waiting in the drop folder (one ingest at a time)."""
        if self.drop_folder is None:
            return IngestReport()
        with self._ingest_lock:
            return self.drop_folder.ingest(self.index, self.mapping)

    # -- the connector interface ----------------------------------------------------------
    def handle(self, enquiry: Enquiry) -> list[EnquiryResponse]:
        if enquiry.agency_id != self.agency_id:
            raise PermanentEnquiryError(f"enquiry.agency_id is not this connector's agency ({self.agency_id})")
        if enquiry.agency_kind is not AgencyKind.EDUCATION:
            raise PermanentEnquiryError(f"enquiry.agency_kind {enquiry.agency_kind.value} is not education")
        if self.ingest_on_enquiry:
            self.ingest_pending()
        now = datetime.now(timezone.utc)
        people: dict[str, Person] = {}
        matches: list[SubjectMatch] = []
        findings: dict[str, Finding] = {}
        relationships: list[Relationship] = []
        confirmed_records: set[str] = set()
        candidates: set[str] = set()
        record_issues: dict[str, list[ResponseRecordIssue]] = {}
        for subject in enquiry.subjects:
            mother = mother_in_enquiry(subject, enquiry.subjects, enquiry.relationships)
            for hit in search_pupils(self.index, subject, subject_mother=mother, thresholds=self.thresholds):
                self._add_hit(subject, hit, people, matches, findings, relationships, confirmed_records, candidates,
                              record_issues=record_issues)
        if not matches:
            return [self._response(enquiry, ResponseStatus.NOT_KNOWN, now, [], [], [], [])]
        pending = sorted(candidates - confirmed_records)
        note = (f"{len(pending)} possible pupil record(s) need confirmation before anything is shared about them."
                if pending else None)
        return [self._response(enquiry, ResponseStatus.INFORMATION_FOUND, now, list(people.values()), matches,
                               list(findings.values()), relationships, note=note,
                               record_issues=[i for issues in record_issues.values() for i in issues])]

    def _add_hit(self, subject: Person, hit: PupilHit, people: dict[str, Person], matches: list[SubjectMatch],
                 findings: dict[str, Finding], relationships: list[Relationship], confirmed: set[str],
                 candidates: set[str], *, record_issues: dict[str, list[ResponseRecordIssue]] | None = None) -> None:
        record = hit.record
        person = hit.person
        source = record.source.model_copy(update={"agency_id": self.agency_id})
        if hit.confirmed:
            confirmed.add(person.person_id)
            people[person.person_id] = person
            own_record = person.person_id == record.person.person_id
            # A person held on another pupil's record (an unborn child, a parent): only what is about them.
            rels = [r for r in record.relationships
                    if own_record or person.person_id in (r.from_person_id, r.to_person_id)]
            ends = {pid for r in rels for pid in (r.from_person_id, r.to_person_id)}
            for related in [record.person, *record.related_people]:
                if related.person_id == person.person_id:
                    continue
                if own_record:
                    people[related.person_id] = related
                elif related.person_id in ends:  # named by a released relationship: a minimal view only
                    people.setdefault(related.person_id, candidate_view(related))
            for finding in record.findings:
                if own_record or finding.subject_person_id == person.person_id:
                    findings[finding.finding_id] = finding.model_copy(
                        update={"source": finding.source.model_copy(update={"agency_id": self.agency_id})})
            for rel in rels:
                if rel not in relationships:
                    relationships.append(rel)
            if record_issues is not None and own_record:
                record_issues[person.person_id] = record_issues_of(record, self.agency_id)
        else:
            candidates.add(person.person_id)
            people.setdefault(person.person_id, candidate_view(person))
        matches.append(SubjectMatch(
            subject_person_id=subject.person_id,
            record_person_id=person.person_id,
            source=source,
            method=hit.result.method,
            confidence=hit.result.confidence,
            candidate=not hit.confirmed,
        ))

    def _response(self, enquiry: Enquiry, status: ResponseStatus, now: datetime, people: list[Person],
                  matches: list[SubjectMatch], findings: list[Finding], relationships: list[Relationship],
                  *, note: str | None = None,
                  record_issues: list[ResponseRecordIssue] | None = None) -> EnquiryResponse:
        return EnquiryResponse(
            response_id=response_id_for(enquiry.enquiry_id, self.agency_id, 1),
            enquiry_id=enquiry.enquiry_id,
            referral_id=enquiry.referral_id,
            agency_id=self.agency_id,
            agency_kind=AgencyKind.EDUCATION,
            status=status,
            people=people,
            matches=matches,
            findings=findings,
            relationships=relationships,
            record_issues=record_issues or [],
            responder=self.responder,
            responded_at=now,
            sequence=1,
            note=note,
        )


def connector_from_config(agency: Any) -> EducationConnector:
    """Build from a ``mashlink.config.models.AgencyConfig`` whose connector is ``ctf``."""
    if agency.connector != "ctf":
        raise ValueError(f"agency {agency.id!r} uses connector {agency.connector!r}, not 'ctf'")
    return EducationConnector.from_options(agency.id, dict(agency.options))
