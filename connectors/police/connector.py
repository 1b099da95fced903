"""The police connector: searches the force's POLE records and answers enquiries.

Model 2: every enquiry subject is searched by name, date of birth, address
and police identifiers; confirmed matches release their findings through the
handling-code rules (:mod:`~mashlink.connectors.police.release`: DND never
leaves); uncertain matches come back as *candidates* with a minimal view of
the record and no findings, for a person to confirm. Model 3 (optional): the
enquiry is also delivered into the police MASH team's own tool (web hook or
drop folder, :mod:`mashlink.connectors.delivery`); the first answer then says
more is to follow, and the team's answer arrives later as a follow-up.

The answer is the one every channel builds
(:class:`~mashlink.connectors.answer_builder.AnswerBuilder`) under the pole
declaration's release policy, ``linked_people: none`` (a nominal's associates
are not released; relationships only between people confirmed in the
answer), with the handling codes as its findings filter.
"""

from __future__ import annotations

from functools import partial

from pydantic import BaseModel, ConfigDict, Field

from ..answer_builder import AnswerBuilder, MatchVerdict, RecordHit, linked_people_for
from ..base import PermanentEnquiryError
from ..delivery.connector import Model3Delivery
from .release import release_findings
from .store import PoleStore
from ..indexed_search import others_in_enquiry
from ...config.connector_kinds import LinkedPeople
from ...schemas.codes import AgencyKind
from ...schemas.enquiry import Enquiry, EnquiryResponse


class PoliceOptions(BaseModel):
    """``AgencyConfig.options`` of a police connector."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    responder: str = Field(default="Police MASH team", min_length=1)
    contact: str = Field(default="Police MASH team", min_length=1,
                         description="Whom the MASH contacts about withheld (DND) or conditional material")
    linked_people: LinkedPeople | None = Field(
        default=None, description="Release policy override (default: the pole declaration's, none)")


class PoliceConnector:
    """``AgencyConnector`` over a :class:`PoleStore`; thread-safe (the store is read-only)."""

    agency_kind = AgencyKind.POLICE

    def __init__(self, agency_id: str, store: PoleStore, options: PoliceOptions | None = None, *,
                 delivery: Model3Delivery | None = None) -> None:
        self.agency_id = agency_id
        self.store = store
        self.options = options or PoliceOptions()
        self.delivery = delivery
        self.answers = AnswerBuilder(
            agency_id, AgencyKind.POLICE, self.options.responder,
            linked_people=linked_people_for("pole", self.options.linked_people),
            release=partial(release_findings, contact=self.options.contact, agency_id=agency_id))

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
        hits: list[RecordHit] = []
        for subject in enquiry.subjects:
            mother = by_id.get(subject.mother_person_id) if subject.mother_person_id else None
            hits.extend(RecordHit(subject, match.record, MatchVerdict(match.record.person, not match.candidate,
                                                                      match.method, round(match.confidence, 4)))
                        for match in self.store.search(subject, subject_mother=mother,
                                                       others=others_in_enquiry(subject, enquiry.subjects)))
        return self.answers.build(enquiry, hits, more_to_follow=more_to_follow)
