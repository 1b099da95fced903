"""A force's POLE records, loaded from export files and searchable by person.

The store is the connector's view of the force system (Model 2): export
files are translated through the ``pole`` mapping spec into canonical
``AgencyRecord``s once, at load; records the spec rejects are kept as
``RecordError``s (file, person id, field, rule) for the operator and never
searched. Search is the hub's pairwise matcher (:func:`mashlink.matching.rules.match_person`,
via :func:`~mashlink.connectors.simulators.matching.match_subject`, which
also turns near-ties into candidates), so the police answer carries the same
method and confidence semantics as every other agency.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mashlink.connectors.police.formats import pole_spec_path
from mashlink.connectors.police.reader import read_pole
from mashlink.connectors.simulators.matching import MatchResult, match_subject
from mashlink.mapping import CompiledMapping, RecordError, load_spec, translate_files
from mashlink.mapping.errors import InputError
from mashlink.schemas.identifiers import IdentifierSystem
from mashlink.schemas.person import Person
from mashlink.schemas.record import AgencyRecord


@dataclass
class PoleStore:
    records: list[AgencyRecord]
    rejected: list[RecordError] = field(default_factory=list)
    file_errors: list[InputError] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_id = {r.person.person_id: r for r in self.records}
        self._by_police_id: dict[tuple[str | None, str], AgencyRecord] = {}
        for record in self.records:
            for ident in record.person.identifiers:
                if ident.system in (IdentifierSystem.POLICE_PERSON_ID, IdentifierSystem.PNC_ID):
                    self._by_police_id[(ident.scope, ident.value)] = record

    @classmethod
    def load(cls, files: Iterable[Path], *, mapping: CompiledMapping | None = None) -> "PoleStore":
        """Translate POLE export files (JSON documents and/or CSV sets) into a store."""
        mapping = mapping or load_spec(pole_spec_path())
        result = translate_files(mapping, read_pole, [Path(f) for f in files])
        records = [r for r in result.records if isinstance(r, AgencyRecord)]
        return cls(records, result.rejected, result.file_errors)

    def record(self, person_id: str) -> AgencyRecord:
        return self._by_id[person_id]

    def __len__(self) -> int:
        return len(self.records)

    def search(self, subject: Person, *, subject_mother: Person | None = None
               ) -> list[MatchResult[AgencyRecord]]:
        """Records for one enquiry subject, best first; uncertain ones flagged as candidates."""
        return match_subject(subject, [(r, r.person) for r in self.records], subject_mother=subject_mother)
