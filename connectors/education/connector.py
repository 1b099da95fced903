"""The education connector: answers MASH enquiries from the CTF pupil index.

Model 2 (search): CTF files dropped by schools or the LA education system
are ingested into the pupil index; each enquiry subject is searched by UPN or
demographics and the answer carries the pupil's findings with provenance.
Search is the shared matcher (``MatchIndex`` behind the pupil index; see
``search.py``). The answer is the one every channel builds
(:class:`~mashlink.connectors.answer_builder.AnswerBuilder`): only confirmed
matches release findings and contacts; uncertain matches come back as
candidates (a minimal view, no findings) for a person to confirm; nothing
found -> ``not_known``. Education's declared release policy is
``linked_people: full``: a pupil's contacts (parents, carers) are released
with the pupil, because they are who the MASH calls.

Model 3 delivery (a task in the education team's own tool) is the delivery
helper's job (``connectors/delivery``) and composes with this class.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..answer_builder import AnswerBuilder, RecordHit, linked_people_for
from ..base import PermanentEnquiryError
from ..delivery.options import resolve_path
from .formats import ctf_spec_path
from .index import PupilIndex
from .options import CtfOptions
from .ingest import CtfIngest, IngestReport
from .search import search_pupils
from ..indexed_search import mother_in_enquiry, others_in_enquiry
from ...config.connector_kinds import LinkedPeople
from ...matching.rules import DEFAULT_THRESHOLDS, MatchThresholds
from ...mapping import CompiledMapping, load_spec
from ...schemas.codes import AgencyKind
from ...schemas.enquiry import Enquiry, EnquiryResponse


class EducationConnector:
    """Implements :class:`mashlink.connectors.base.AgencyConnector` over a :class:`PupilIndex`."""

    agency_kind: AgencyKind = AgencyKind.EDUCATION

    def __init__(self, agency_id: str, index: PupilIndex, *, mapping: CompiledMapping | None = None,
                 drop_folder: CtfIngest | None = None, responder: str = "Education MASH team",
                 ingest_on_enquiry: bool = True, thresholds: MatchThresholds = DEFAULT_THRESHOLDS,
                 linked_people: LinkedPeople | None = None) -> None:
        self.agency_id = agency_id
        self.index = index
        self.mapping = mapping or load_spec(ctf_spec_path())
        self.drop_folder = drop_folder
        self.responder = responder
        self.ingest_on_enquiry = ingest_on_enquiry
        self.thresholds = thresholds
        self.answers = AnswerBuilder(agency_id, AgencyKind.EDUCATION, responder,
                                     linked_people=linked_people_for("ctf", linked_people))
        self._ingest_lock = threading.Lock()

    @classmethod
    def from_options(cls, agency_id: str, options: CtfOptions | Mapping[str, Any], *,
                     state_dir: Path) -> "EducationConnector":
        """The search connector from ``connector: ctf`` options alone (no settings, broker or services).

        The options model is the configuration's own (:class:`CtfOptions`), so a
        script or test takes exactly what an agency's YAML may say; paths are
        relative to ``state_dir`` and the index defaults to
        ``state_dir/index.sqlite3``. The configured channel is built by
        ``wiring.education_connector``.
        """
        opts = options if isinstance(options, CtfOptions) else CtfOptions.model_validate(dict(options))
        index_path = resolve_path(state_dir, opts.index_file) if opts.index_file else Path(state_dir) / "index.sqlite3"
        index_path.parent.mkdir(parents=True, exist_ok=True)
        return cls(
            agency_id,
            PupilIndex(index_path),
            mapping=load_spec(resolve_path(state_dir, opts.spec) if opts.spec else ctf_spec_path()),
            drop_folder=CtfIngest(resolve_path(state_dir, opts.drop_folder)) if opts.drop_folder else None,
            responder=opts.responder,
            ingest_on_enquiry=opts.ingest_on_enquiry,
            linked_people=opts.linked_people,
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
        hits = [RecordHit(subject, hit.record, hit.indexed)
                for subject in enquiry.subjects
                for hit in search_pupils(self.index, subject, thresholds=self.thresholds,
                                         subject_mother=mother_in_enquiry(subject, enquiry.subjects,
                                                                          enquiry.relationships),
                                         others=others_in_enquiry(subject, enquiry.subjects))]
        return [self.answers.build(enquiry, hits)]
