"""Find an enquiry subject in the pupil index: by UPN when it can be trusted, else by demographics.

A UPN that passes its check letter (and is not temporary) is looked up
exactly; the hit is still scored by the hub matcher, so a UPN typo that
happens to be valid for another child shows up as contradicting
demographics rather than a silent wrong match. Otherwise the index
pre-selects widely (surname, date of birth, postcode) and
``mashlink.matching.rules.match_person`` scores each candidate. Every hit at or
above the candidate threshold is returned with its decision: several
plausible records come back as candidates for a person to resolve, never as
a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

from mashlink.connectors.education.index import PupilIndex
from mashlink.matching.rules import DEFAULT_THRESHOLDS, MatchDecision, MatchResult, MatchThresholds, match_person
from mashlink.schemas.identifiers import IdentifierSystem
from mashlink.schemas.person import Person
from mashlink.schemas.record import AgencyRecord


@dataclass(frozen=True)
class PupilHit:
    record: AgencyRecord
    result: MatchResult

    @property
    def confirmed(self) -> bool:
        return self.result.decision is MatchDecision.MATCH


def search_pupils(index: PupilIndex, subject: Person, *, subject_mother: Person | None = None,
                  thresholds: MatchThresholds = DEFAULT_THRESHOLDS) -> list[PupilHit]:
    """Records that match or may match ``subject``, best first.

    When more than one record would be a confirmed match (two pupils equally
    like the subject), all of them are downgraded to candidates: the
    connector must not pick one.
    """
    records: dict[str, AgencyRecord] = {}
    upn = subject.identifier(IdentifierSystem.UPN)
    if upn is not None and upn.trusted:
        for record in index.by_upn(upn.value):
            records[record.source.record_id] = record
    if not records:
        families = [n.family for n in subject.names if n.family]
        dob = subject.birth_date.value.isoformat() if subject.birth_date else None
        postcode = next((a.postcode for a in subject.addresses if a.postcode), None)
        for record in index.demographic_candidates(families=families, dob=dob, postcode=postcode):
            records[record.source.record_id] = record
    hits = []
    for record in records.values():
        result = match_person(subject, record.person, subject_mother=subject_mother, thresholds=thresholds)
        if result.decision is not MatchDecision.NO_MATCH:
            hits.append(PupilHit(record, result))
    hits.sort(key=lambda h: (-h.result.confidence, h.record.source.record_id))
    confirmed = [h for h in hits if h.confirmed]
    if len(confirmed) > 1:
        hits = [
            PupilHit(h.record, h.result.model_copy(update={
                "decision": MatchDecision.CANDIDATE,
                "confidence": min(h.result.confidence, thresholds.candidate_cap),
                "reasons": [*h.result.reasons, "several_records_match"],
            })) if h.confirmed else h
            for h in hits
        ]
    return hits
