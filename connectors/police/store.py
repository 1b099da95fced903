"""A force's POLE records, loaded from export files and searchable by person.

The store is the connector's view of the force system (Model 2): export
files are translated through the ``pole`` mapping spec into canonical
``AgencyRecord``s once, at load; records the spec rejects are kept as
``RecordError``s (file, person id, field, rule) for the operator and never
searched. At load every record's person is put into a
:class:`~mashlink.matching.index.MatchIndex` (in memory), the candidate-search
index every agency uses: a search reads only the records sharing a blocking
key with the subject and scores them with the calibrated scorer, instead of
comparing every record (24 s per subject at 200,000 people). An unborn
subject is found through its mother's record. The answer keeps the connector
shape: method (the identifier that agreed, else demographic), confidence (the
calibrated probability) and ``candidate`` unless the index decided a clear
match (near-ties between records, twins and household members go to a
person).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .formats import pole_spec_path
from .reader import read_pole
from ..found import MatchResult
from ...config.matching import MatchPolicy
from ...mapping import CompiledMapping, RecordError, load_spec, translate_files
from ...mapping.errors import InputError
from ...matching.index import IndexEntry, MatchIndex, mother_links
from ...matching.rules import MatchDecision
from ...schemas.codes import MatchMethod
from ...schemas.identifiers import IdentifierSystem
from ...schemas.person import Person
from ...schemas.record import AgencyRecord

#: Identifier systems in the order they name the match method, when both sides share one.
_METHODS: tuple[tuple[IdentifierSystem, MatchMethod], ...] = (
    (IdentifierSystem.NHS_NUMBER, MatchMethod.NHS_NUMBER),
    (IdentifierSystem.PNC_ID, MatchMethod.POLICE_ID),
    (IdentifierSystem.POLICE_PERSON_ID, MatchMethod.POLICE_ID),
    (IdentifierSystem.UPN, MatchMethod.UPN),
    (IdentifierSystem.LA_CHILD_ID, MatchMethod.LA_CHILD_ID),
)


def _method(subject: Person, record: Person) -> MatchMethod:
    """The trusted identifier both people hold, else demographic."""
    for system, method in _METHODS:
        ours = {i.key for i in subject.identifiers if i.system is system and i.trusted}
        if ours and ours & {i.key for i in record.identifiers if i.system is system and i.trusted}:
            return method
    return MatchMethod.DEMOGRAPHIC


@dataclass
class PoleStore:
    records: list[AgencyRecord]
    rejected: list[RecordError] = field(default_factory=list)
    file_errors: list[InputError] = field(default_factory=list)
    #: The agency's ``matching:`` thresholds (IG staff set them per force); None = ``MatchPolicy`` defaults.
    policy: MatchPolicy | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        self._by_id = {r.person.person_id: r for r in self.records}
        self._index = MatchIndex.create(Path(":memory:"), policy=self.policy)
        self._index.add_entries(self._entries())
        self._index.train()
        self._by_police_id: dict[tuple[str | None, str], AgencyRecord] = {}
        for record in self.records:
            for ident in record.person.identifiers:
                if ident.system in (IdentifierSystem.POLICE_PERSON_ID, IdentifierSystem.PNC_ID):
                    self._by_police_id[(ident.scope, ident.value)] = record

    @classmethod
    def load(cls, files: Iterable[Path], *, mapping: CompiledMapping | None = None,
             policy: MatchPolicy | None = None) -> "PoleStore":
        """Translate POLE export files (JSON documents and/or CSV sets) into a store searched under ``policy``."""
        mapping = mapping or load_spec(pole_spec_path())
        result = translate_files(mapping, read_pole, [Path(f) for f in files])
        records = [r for r in result.records if isinstance(r, AgencyRecord)]
        return cls(records, result.rejected, result.file_errors, policy=policy)

    @property
    def match_policy(self) -> MatchPolicy:
        """The thresholds searches use (the agency's, or the defaults)."""
        return self._index.policy

    def _entries(self) -> Iterable[IndexEntry]:
        """Each record's person once, under their person id, linked to their mother's record."""
        for record in self.records:
            person = record.person
            mother = mother_links(record).get(person.person_id)
            yield IndexEntry(record_id=person.person_id, person=person,
                             mother_record_id=mother if mother in self._by_id else None)

    def record(self, person_id: str) -> AgencyRecord:
        return self._by_id[person_id]

    def __len__(self) -> int:
        return len(self.records)

    def search(self, subject: Person, *, subject_mother: Person | None = None, others: Sequence[Person] = ()
               ) -> list[MatchResult[AgencyRecord]]:
        """Records for one enquiry subject, best first; uncertain ones flagged as candidates.

        ``others``: the enquiry's other people (``MatchIndex.search``).
        """
        outcome = self._index.search(subject, mother=subject_mother, others=others)
        found = []
        for rank, result in enumerate(outcome.results):
            record = self._by_id[result.record_id]
            clear = rank == 0 and outcome.outcome is MatchDecision.MATCH
            found.append(MatchResult(record=record, person=record.person, method=_method(subject, record.person),
                                     confidence=round(result.pair.probability, 4), candidate=not clear,
                                     reasons=tuple(result.pair.reasons)))
        return found
