"""The children's social care connector: answers enquiries from loaded CIN / SSDA903 extracts.

Search, per enquiry subject:

1. exact on *trusted* identifiers: NHS number, UPN, and the LA child id only
   within this connector's LA (an id from another LA is a different child);
2. otherwise a demographic block (same date of birth, family name or
   postcode) scored by the hub's matcher (``matching.rules.match_person``).

Every record is scored by the matcher, including identifier hits, so a twin's
NHS number keyed onto the other twin's record comes back as a candidate.
Confirmed matches release the child's findings (referrals, assessments,
section 47s, plans, looked-after and missing episodes); candidates are
returned with a minimal view and no findings, for a person to confirm.
Nothing is guessed: no match means ``not_known``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mashlink.connectors.base import PermanentEnquiryError, response_id_for
from mashlink.connectors.reference.connector import candidate_view
from mashlink.connectors.social_care.index import SocialCareIndex
from mashlink.matching.rules import DEFAULT_THRESHOLDS, MatchDecision, MatchResult, MatchThresholds, match_person
from mashlink.schemas.codes import AgencyKind, ResponseStatus
from mashlink.schemas.enquiry import Enquiry, EnquiryResponse, SubjectMatch, record_issues_of
from mashlink.schemas.finding import Finding, SourceRef
from mashlink.schemas.identifiers import IdentifierSystem
from mashlink.schemas.person import Person
from mashlink.schemas.record import AgencyRecord


class SocialCareOptions(BaseModel):
    """``AgencyConfig.options`` for ``connector: social_care``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    state_dir: Path = Field(description="Where the SQLite index (and processed/rejected files) live")
    la_code: str = Field(pattern=r"^\d{3}$", description="This LA's code: scopes LA child ids")
    inbox: Path | None = Field(default=None, description="Drop folder of CIN / SSDA903 extracts")
    responder: str = Field(default="Children's social care MASH team", min_length=1)


@dataclass(frozen=True)
class Hit:
    """One child found for one subject: the merged record and how it matched."""

    record: AgencyRecord
    result: MatchResult

    @property
    def confirmed(self) -> bool:
        return self.result.decision is MatchDecision.MATCH


def merge_child(records: list[AgencyRecord]) -> AgencyRecord:
    """One child's records from several extracts (CIN, SSDA903): first person, all findings, all issues."""
    first = records[0]
    if len(records) == 1:
        return first
    seen: set[str] = set()
    findings: list[Finding] = []
    for rec in records:
        for f in rec.findings:
            if f.finding_id not in seen:
                seen.add(f.finding_id)
                findings.append(f)
    known = {i.key for i in first.person.identifiers}
    extra = [i for rec in records[1:] for i in rec.person.identifiers if i.key not in known]
    person = first.person.model_copy(update={"identifiers": [*first.person.identifiers, *extra]})
    return first.model_copy(update={"person": person, "findings": findings,
                                    "issues": [i for rec in records for i in rec.issues]})


class SocialCareConnector:
    """Implements ``AgencyConnector`` over a :class:`SocialCareIndex`; thread-safe."""

    agency_kind: AgencyKind = AgencyKind.SOCIAL_CARE

    def __init__(self, agency_id: str, index: SocialCareIndex, *, la_code: str,
                 responder: str = "Children's social care MASH team",
                 thresholds: MatchThresholds = DEFAULT_THRESHOLDS) -> None:
        self.agency_id = agency_id
        self.index = index
        self.la_code = la_code
        self.responder = responder
        self.thresholds = thresholds

    @classmethod
    def from_options(cls, agency_id: str, options: dict[str, Any] | SocialCareOptions) -> "SocialCareConnector":
        opts = options if isinstance(options, SocialCareOptions) else SocialCareOptions.model_validate(options)
        index = SocialCareIndex(opts.state_dir, la_code=opts.la_code)
        if opts.inbox is not None and opts.inbox.is_dir():
            index.ingest_folder(opts.inbox)
        return cls(agency_id, index, la_code=opts.la_code, responder=opts.responder)

    # -- search -----------------------------------------------------------------------
    def _child(self, record: AgencyRecord) -> AgencyRecord:
        la = record.person.identifier(IdentifierSystem.LA_CHILD_ID)
        scope = (la.scope if la else None) or record.source.organisation or "unknown-la"
        return merge_child(self.index.records_of_child(scope, record.source.record_id) or [record])

    def search(self, subject: Person, *, subject_mother: Person | None = None) -> list[Hit]:
        """Children matching ``subject``, confirmed matches first, then candidates (best first)."""
        found: dict[tuple[str, str], AgencyRecord] = {}

        def add(records: list[AgencyRecord]) -> None:
            for rec in records:
                la = rec.person.identifier(IdentifierSystem.LA_CHILD_ID)
                key = ((la.scope if la else None) or "", rec.source.record_id)
                if key not in found:
                    found[key] = self._child(rec)

        for ident in subject.identifiers:
            if not ident.trusted:
                continue
            if ident.system is IdentifierSystem.LA_CHILD_ID:
                if ident.scope == self.la_code:
                    add(self.index.by_identifier(ident.system, ident.value, scope=self.la_code))
            elif ident.system in (IdentifierSystem.NHS_NUMBER, IdentifierSystem.UPN):
                add(self.index.by_identifier(ident.system, ident.value))
        if not subject.unborn:
            add(self.index.demographic_block(subject))
        hits: list[Hit] = []
        for record in found.values():
            result = match_person(subject, record.person, subject_mother=subject_mother, thresholds=self.thresholds)
            if result.decision is not MatchDecision.NO_MATCH:
                hits.append(Hit(record, result))
        hits.sort(key=lambda h: (not h.confirmed, -h.result.confidence, h.record.source.record_id))
        return hits

    # -- the connector interface --------------------------------------------------------
    def handle(self, enquiry: Enquiry) -> list[EnquiryResponse]:
        if enquiry.agency_id != self.agency_id:
            raise PermanentEnquiryError(f"enquiry.agency_id is not this connector's agency ({self.agency_id})")
        if enquiry.agency_kind is not self.agency_kind:
            raise PermanentEnquiryError(f"enquiry.agency_kind {enquiry.agency_kind.value} is not social_care")
        by_id = {s.person_id: s for s in enquiry.subjects}
        people: dict[str, Person] = {}
        confirmed: dict[str, AgencyRecord] = {}
        matches: list[SubjectMatch] = []
        for subject in enquiry.subjects:
            mother = by_id.get(subject.mother_person_id) if subject.mother_person_id else None
            for hit in self.search(subject, subject_mother=mother):
                pid = hit.record.person.person_id
                if hit.confirmed:
                    confirmed[pid] = hit.record
                    people[pid] = hit.record.person
                else:
                    people.setdefault(pid, candidate_view(hit.record.person))
                matches.append(SubjectMatch(
                    subject_person_id=subject.person_id, record_person_id=pid,
                    source=_source(hit.record, self.agency_id), method=hit.result.method,
                    confidence=hit.result.confidence, candidate=not hit.confirmed,
                ))
        # A record confirmed for one subject is shown in full even if it was a candidate for another.
        for pid, rec in confirmed.items():
            people[pid] = rec.person
        now = datetime.now(timezone.utc)
        findings = [f.model_copy(update={"source": _source_of(f.source, self.agency_id)})
                    for rec in confirmed.values() for f in rec.findings]
        candidates = sorted({m.record_person_id for m in matches if m.candidate} - set(confirmed))
        note = (f"{len(candidates)} possible record(s) need confirmation before anything is shared about them."
                if candidates else None)
        status = ResponseStatus.INFORMATION_FOUND if matches else ResponseStatus.NOT_KNOWN
        return [EnquiryResponse(
            response_id=response_id_for(enquiry.enquiry_id, self.agency_id, 1),
            enquiry_id=enquiry.enquiry_id, referral_id=enquiry.referral_id, agency_id=self.agency_id,
            agency_kind=self.agency_kind, status=status,
            people=list(people.values()) if matches else [], matches=matches,
            findings=findings if matches else [],
            record_issues=[i for rec in confirmed.values() for i in record_issues_of(rec, self.agency_id)]
            if matches else [],
            responder=self.responder, responded_at=now, sequence=1, note=note,
        )]


def _source_of(source: SourceRef, agency_id: str) -> SourceRef:
    return source.model_copy(update={"agency_id": agency_id})


def _source(record: AgencyRecord, agency_id: str) -> SourceRef:
    return _source_of(record.source, agency_id)
