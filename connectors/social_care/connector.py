"""The children's social care connector: answers enquiries from loaded CIN / SSDA903 extracts.

Search, per enquiry subject, is the shared matcher: the index's
:class:`~mashlink.matching.index.MatchIndex` (one entry per child, CIN and
SSDA903 merged) finds every child sharing a blocking key (identifiers, date of
birth and its swap, phonetic surname + birth year, postcode + birth year; no
``LIMIT``), scores each with the calibrated scorer and its vetoes (an LA child
id from another LA is another child's; a trusted identifier with clearly
different demographics is a candidate at most), and ``decide`` sends
near-ties and household members (twins, siblings) to a person. An unborn
subject is found through the mother the enquiry names.

Only the best record of a match outcome is confirmed: twins are never both
auto-matched, and a twin's NHS number keyed onto the other twin's referral
comes back as a candidate.
Confirmed matches release the child's findings (referrals, assessments,
section 47s, plans, looked-after and missing episodes); candidates are
returned with a minimal view and no findings, for a person to confirm.
Nothing is guessed: no match means ``not_known``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..base import PermanentEnquiryError, response_id_for
from ..reference.connector import candidate_view
from ..indexed_search import (
    IndexedHit, as_match_result, base_record_id, hits_from_outcome, mother_in_enquiry,
)
from .index import SocialCareIndex, merge_child, split_child_key
from ...matching.rules import DEFAULT_THRESHOLDS, MatchDecision, MatchResult, MatchThresholds
from ...schemas.codes import AgencyKind, MatchMethod, ResponseStatus
from ...schemas.enquiry import Enquiry, EnquiryResponse, SubjectMatch, record_issues_of
from ...schemas.finding import SourceRef
from ...schemas.identifiers import IdentifierSystem
from ...schemas.person import Person
from ...schemas.record import AgencyRecord
from ...schemas.relationship import Relationship


class SocialCareOptions(BaseModel):
    """``AgencyConfig.options`` for ``connector: social_care``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    state_dir: Path = Field(description="Where the SQLite index (and processed/rejected files) live")
    la_code: str = Field(pattern=r"^\d{3}$", description="This LA's code: scopes LA child ids")
    inbox: Path | None = Field(default=None, description="Drop folder of CIN / SSDA903 extracts")
    responder: str = Field(default="Children's social care MASH team", min_length=1)


@dataclass(frozen=True)
class Hit:
    """One child found for one subject: the merged record, the person matched on it, and how it matched.

    ``person`` is ``record.person``, or a person held on the record (an unborn child, a mother).
    """

    record: AgencyRecord
    result: MatchResult
    person: Person | None = None
    indexed: IndexedHit | None = field(default=None, compare=False)

    @property
    def confirmed(self) -> bool:
        return self.result.decision is MatchDecision.MATCH

    @property
    def matched(self) -> Person:
        return self.person or self.record.person

    @property
    def own_record(self) -> bool:
        return self.matched.person_id == self.record.person.person_id


__all__ = ["Hit", "SocialCareConnector", "SocialCareOptions", "merge_child"]


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
    def search(self, subject: Person, *, subject_mother: Person | None = None) -> list[Hit]:
        """Children matching ``subject`` from the shared matcher, best first (at most one confirmed)."""
        outcome = self.index.matcher.search(subject, mother=subject_mother)
        hits: list[Hit] = []
        for hit in hits_from_outcome(outcome, thresholds=self.thresholds, other_id_method=MatchMethod.LA_CHILD_ID):
            la_code, child_id = split_child_key(base_record_id(hit.record_id, hit.person.person_id))
            records = self.index.records_of_child(la_code, child_id)
            if not records:  # the match index is written first; that batch's records did not commit
                continue
            result = as_match_result(hit, outcome.reasons)
            if result.method is MatchMethod.LA_CHILD_ID:
                result = result.model_copy(update={"method": _shared_local_id(subject, hit.person)})
            hits.append(Hit(merge_child(records), result, hit.person, hit))
        return hits

    # -- the connector interface --------------------------------------------------------
    def handle(self, enquiry: Enquiry) -> list[EnquiryResponse]:
        if enquiry.agency_id != self.agency_id:
            raise PermanentEnquiryError(f"enquiry.agency_id is not this connector's agency ({self.agency_id})")
        if enquiry.agency_kind is not self.agency_kind:
            raise PermanentEnquiryError(f"enquiry.agency_kind {enquiry.agency_kind.value} is not social_care")
        people: dict[str, Person] = {}
        confirmed: dict[str, Hit] = {}
        matches: list[SubjectMatch] = []
        for subject in enquiry.subjects:
            mother = mother_in_enquiry(subject, enquiry.subjects, enquiry.relationships)
            for hit in self.search(subject, subject_mother=mother):
                pid = hit.matched.person_id
                if hit.confirmed:
                    confirmed[pid] = hit
                    people[pid] = hit.matched
                else:
                    people.setdefault(pid, candidate_view(hit.matched))
                matches.append(SubjectMatch(
                    subject_person_id=subject.person_id, record_person_id=pid,
                    source=_source(hit.record, self.agency_id), method=hit.result.method,
                    confidence=hit.result.confidence, candidate=not hit.confirmed,
                ))
        # A record confirmed for one subject is shown in full even if it was a candidate for another.
        relationships: list[Relationship] = []
        for pid, hit in confirmed.items():
            people[pid] = hit.matched
            # The people the record links to the child (an unborn child's mother, so the hub can re-check
            # the pregnancy): the links, and those people as a minimal view only.
            linked = {hit.matched.mother_person_id} if hit.matched.mother_person_id else set()
            for rel in hit.record.relationships:
                if pid in (rel.from_person_id, rel.to_person_id):
                    linked.update((rel.from_person_id, rel.to_person_id))
                    if rel not in relationships:
                        relationships.append(rel)
            for other in [hit.record.person, *hit.record.related_people]:
                if other.person_id in linked and other.person_id != pid:
                    people.setdefault(other.person_id, candidate_view(other))
        known = set(people)
        relationships = [r for r in relationships if r.from_person_id in known and r.to_person_id in known]
        now = datetime.now(timezone.utc)
        # A person held on another child's record (an unborn sibling, a mother): only findings about them.
        findings = [f.model_copy(update={"source": _source_of(f.source, self.agency_id)})
                    for hit in confirmed.values() for f in hit.record.findings
                    if hit.own_record or f.subject_person_id == hit.matched.person_id]
        candidates = sorted({m.record_person_id for m in matches if m.candidate} - set(confirmed))
        note = (f"{len(candidates)} possible record(s) need confirmation before anything is shared about them."
                if candidates else None)
        status = ResponseStatus.INFORMATION_FOUND if matches else ResponseStatus.NOT_KNOWN
        return [EnquiryResponse(
            response_id=response_id_for(enquiry.enquiry_id, self.agency_id, 1),
            enquiry_id=enquiry.enquiry_id, referral_id=enquiry.referral_id, agency_id=self.agency_id,
            agency_kind=self.agency_kind, status=status,
            people=list(people.values()) if matches else [], matches=matches,
            findings=findings if matches else [], relationships=relationships if matches else [],
            record_issues=[i for hit in confirmed.values() if hit.own_record
                           for i in record_issues_of(hit.record, self.agency_id)] if matches else [],
            responder=self.responder, responded_at=now, sequence=1, note=note,
        )]


def _shared_local_id(subject: Person, record: Person) -> MatchMethod:
    """Which non-NHS identifier the pair agreed on: the LA child id (same LA), else the UPN."""
    held = {(i.system, i.scope or "", i.value.upper()) for i in record.identifiers if i.trusted}
    for ident in subject.identifiers:
        if ident.trusted and ident.system is IdentifierSystem.LA_CHILD_ID \
                and (ident.system, ident.scope or "", ident.value.upper()) in held:
            return MatchMethod.LA_CHILD_ID
    return MatchMethod.UPN


def _source_of(source: SourceRef, agency_id: str) -> SourceRef:
    return source.model_copy(update={"agency_id": agency_id})


def _source(record: AgencyRecord, agency_id: str) -> SourceRef:
    return _source_of(record.source, agency_id)
