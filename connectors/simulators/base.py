"""What every simulated agency system offers: records, a search and a worklist.

A connector talks to an agency system in two ways: it searches it (Model 2)
and it delivers the enquiry into the agency's own tool (Model 3: a task in a
worklist a practitioner works from). The simulators offer both over records
held in memory, so the connector runtime can be exercised end to end before
the real format connectors exist. The real connectors replace the simulator,
not the runtime.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable

from .matching import MatchResult, match_subject
from ...schemas.codes import AgencyKind
from ...schemas.enquiry import Enquiry
from ...schemas.finding import Finding, SourceRef
from ...schemas.person import Person


@dataclass(frozen=True)
class SimRecord:
    """One person as the agency holds them, with what its records say about them.

    ``flags`` carries facts about the record that are not findings, e.g.
    ``live_investigation`` (police): disclosure may prejudice an investigation.
    An unborn child is identified by its mother and expected date, so an
    unborn record carries the agency's record of the mother.
    """

    person: Person
    findings: tuple[Finding, ...] = ()
    flags: frozenset[str] = frozenset()
    mother: Person | None = None  # the agency's record of the mother, for an unborn child

    @property
    def record_id(self) -> str:
        return self.person.person_id


@dataclass(frozen=True)
class WorklistTask:
    """An enquiry delivered into the agency's own tool."""

    task_id: str
    enquiry_id: str
    referral_id: str
    rag: str
    due_at: datetime
    created_at: datetime


@dataclass
class AgencySimulator:
    """An agency system in memory. Thread-safe: the runner calls it from a worker pool."""

    agency_id: str
    kind: AgencyKind
    system: str
    organisation: str
    records: tuple[SimRecord, ...]
    _worklist: dict[str, WorklistTask] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def source(self, record_id: str) -> SourceRef:
        return SourceRef(
            agency_kind=self.kind, agency_id=self.agency_id, system=self.system,
            record_id=record_id, organisation=self.organisation,
        )

    def search(self, subject: Person, *, subject_mother: Person | None = None) -> list[MatchResult[SimRecord]]:
        """Records matching one enquiry subject (identifiers first, then demographics).

        ``subject_mother`` is the enquiry's mother of an unborn subject.
        """
        return match_subject(
            subject,
            [(r, r.person) for r in self.records],
            subject_mother=subject_mother,
            record_mother=lambda r: r.mother,
        )

    def record(self, record_id: str) -> SimRecord:
        for rec in self.records:
            if rec.record_id == record_id:
                return rec
        raise KeyError(f"{self.agency_id} holds no record {record_id}")

    def deliver(self, enquiry: Enquiry) -> WorklistTask:
        """Put the enquiry in the agency's worklist; delivering twice keeps one task."""
        with self._lock:
            task = self._worklist.get(enquiry.enquiry_id)
            if task is None:
                task = WorklistTask(
                    task_id=f"{self.agency_id}-task-{len(self._worklist) + 1}",
                    enquiry_id=enquiry.enquiry_id,
                    referral_id=enquiry.referral_id,
                    rag=enquiry.rag.value,
                    due_at=enquiry.due_at,
                    created_at=datetime.now(timezone.utc),
                )
                self._worklist[enquiry.enquiry_id] = task
            return task

    def worklist(self) -> list[WorklistTask]:
        with self._lock:
            return list(self._worklist.values())

    def findings_count(self) -> int:
        return sum(len(r.findings) for r in self.records)


def unique_ids(records: Iterable[SimRecord]) -> None:
    """Guard used by the builders: record and finding ids must be unique."""
    seen: set[str] = set()
    for rec in records:
        for ident in (rec.record_id, *(f.finding_id for f in rec.findings)):
            if ident in seen:
                raise ValueError(f"duplicate simulated id {ident}")
            seen.add(ident)
