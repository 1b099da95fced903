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
Nothing is guessed: no match means ``not_known``. The answer is the one every
channel builds (:class:`~mashlink.connectors.answer_builder.AnswerBuilder`)
under social care's declared release policy, ``linked_people: minimal``: the
people a record links to the child (an unborn child's mother, so the hub can
re-check the pregnancy) come with the links as a minimal view only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..answer_builder import AnswerBuilder, MatchVerdict, RecordHit, linked_people_for
from ..base import PermanentEnquiryError
from ..delivery.options import resolve_path
from ..indexed_search import (
    IndexedHit, as_match_result, base_record_id, hits_from_outcome, mother_in_enquiry, others_in_enquiry,
)
from .index import SocialCareIndex, merge_child, split_child_key
from .options import SocialCareWiringOptions
from ...config.connector_kinds import LinkedPeople
from ...matching.rules import DEFAULT_THRESHOLDS, MatchDecision, MatchResult, MatchThresholds
from ...schemas.codes import AgencyKind, MatchMethod
from ...schemas.enquiry import Enquiry, EnquiryResponse
from ...schemas.identifiers import IdentifierSystem
from ...schemas.person import Person
from ...schemas.record import AgencyRecord


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


__all__ = ["Hit", "SocialCareConnector", "merge_child"]


class SocialCareConnector:
    """Implements ``AgencyConnector`` over a :class:`SocialCareIndex`; thread-safe."""

    agency_kind: AgencyKind = AgencyKind.SOCIAL_CARE

    def __init__(self, agency_id: str, index: SocialCareIndex, *, la_code: str,
                 responder: str = "Children's social care MASH team",
                 thresholds: MatchThresholds = DEFAULT_THRESHOLDS, linked_people: LinkedPeople | None = None
                 ) -> None:
        self.agency_id = agency_id
        self.index = index
        self.la_code = la_code
        self.responder = responder
        self.thresholds = thresholds
        self.answers = AnswerBuilder(agency_id, AgencyKind.SOCIAL_CARE, responder,
                                     linked_people=linked_people_for("cin", linked_people))

    @classmethod
    def from_options(cls, agency_id: str, options: Mapping[str, Any] | SocialCareWiringOptions, *,
                     state_dir: Path) -> "SocialCareConnector":
        """The search connector from ``connector: cin`` options alone (no settings, broker or services).

        The options model is the configuration's own
        (:class:`~mashlink.connectors.social_care.options.SocialCareWiringOptions`),
        so a script or test takes exactly what an agency's YAML may say. Without
        settings there is no ``local_authority.code`` to fall back on, so
        ``la_code`` is required here. The index lives in ``index_dir`` (default
        ``state_dir``); an existing ``inbox`` is loaded once, now (the configured
        channel, ``wiring.build_social_care``, loads it in the background).
        """
        opts = (options if isinstance(options, SocialCareWiringOptions)
                else SocialCareWiringOptions.model_validate(dict(options)))
        if opts.la_code is None:
            raise ValueError("options.la_code is required without settings (a 3-digit DfE LA code)")
        index_dir = resolve_path(state_dir, opts.index_dir) if opts.index_dir else Path(state_dir)
        index = SocialCareIndex(index_dir, la_code=opts.la_code)
        if opts.inbox is not None:
            inbox = resolve_path(state_dir, opts.inbox)
            if inbox.is_dir():
                index.ingest_folder(inbox)
        return cls(agency_id, index, la_code=opts.la_code, responder=opts.responder,
                   linked_people=opts.linked_people)

    # -- search -----------------------------------------------------------------------
    def search(self, subject: Person, *, subject_mother: Person | None = None,
               others: Sequence[Person] = ()) -> list[Hit]:
        """Children matching ``subject`` from the shared matcher, best first (at most one confirmed).

        ``others``: the enquiry's other people (``MatchIndex.search``).
        """
        outcome = self.index.matcher.search(subject, mother=subject_mother, others=others)
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
        hits: list[RecordHit] = []
        for subject in enquiry.subjects:
            mother = mother_in_enquiry(subject, enquiry.subjects, enquiry.relationships)
            hits.extend(RecordHit(subject, hit.record, MatchVerdict(hit.matched, hit.confirmed, hit.result.method,
                                                                    hit.result.confidence))
                        for hit in self.search(subject, subject_mother=mother,
                                               others=others_in_enquiry(subject, enquiry.subjects)))
        return [self.answers.build(enquiry, hits)]


def _shared_local_id(subject: Person, record: Person) -> MatchMethod:
    """Which non-NHS identifier the pair agreed on: the LA child id (same LA), else the UPN."""
    held = {(i.system, i.scope or "", i.value.upper()) for i in record.identifiers if i.trusted}
    for ident in subject.identifiers:
        if ident.trusted and ident.system is IdentifierSystem.LA_CHILD_ID \
                and (ident.system, ident.scope or "", ident.value.upper()) in held:
            return MatchMethod.LA_CHILD_ID
    return MatchMethod.UPN

