"""Drop-folder ingest of CTF files into the pupil index.

Layout under the drop folder root (created on first use; the folder is the
connectors' one :class:`~connectors.files.DropFolder`, so moves and reason
files are atomic and fsynced like every other drop folder's)::

    incoming/     schools / the LA system drop *.xml here (write as .tmp, then rename)
    processed/    ingested files (+ NAME.report.txt when some pupils were rejected)
    failed/       files that could not be used (+ NAME.reason.txt saying why; replayable)

Rules: nothing is lost (every file ends in processed/ or failed/, never
deleted); a file that is unsafe, not well-formed, truncated or yields no
usable pupil is moved aside with a reason file and nothing from it is
indexed; a bad pupil never stops the rest of its file (it is listed in the
report by UPN, field and rule, never by name); the same bytes dropped again
are recognised by SHA-256 and not indexed twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from .ctf_reader import read_ctf
from .index import PupilIndex
from ..files import FileRejection
from .. import files
from ...mapping import CompiledMapping, translate_files
from ...schemas.record import AgencyRecord


@dataclass
class FileOutcome:
    """What happened to one dropped file (no personal data: counts, ids and rules)."""

    name: str
    sha256: str
    status: str  # "ingested" | "duplicate" | "failed"
    accepted: int = 0
    rejected: int = 0
    problems: list[str] = field(default_factory=list)
    moved_to: str = ""


@dataclass
class IngestReport:
    files: list[FileOutcome] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(f.accepted for f in self.files if f.status == "ingested")

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)

    @property
    def failed_files(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "failed"]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


class CtfIngest:
    """incoming/ -> processed/ | failed/ for one agency's CTF drops (the folder is a :class:`~connectors.files.DropFolder`)."""

    def __init__(self, root: str | Path) -> None:
        self.folder = files.DropFolder(Path(root), inbox_name="incoming")
        self.root = self.folder.root
        self.incoming = self.folder.inbox
        self.processed = self.folder.processed
        self.failed = self.folder.failed

    def pending(self) -> list[Path]:
        """Files ready to ingest: visible, complete (no temporary suffix), oldest first."""
        return self.folder.waiting()

    def ingest(self, index: PupilIndex, mapping: CompiledMapping) -> IngestReport:
        """Ingest every pending file; never raises for bad input."""
        log = structlog.get_logger("mashlink.connectors.education.ingest")
        report = IngestReport()
        for path in self.pending():
            outcome = self.ingest_file(path, index, mapping)
            report.files.append(outcome)
            log.info("ctf_file_ingested", file_sha256=outcome.sha256[:12], status=outcome.status, accepted=outcome.accepted,
                     rejected=outcome.rejected)
        return report

    def ingest_file(self, path: Path, index: PupilIndex, mapping: CompiledMapping) -> FileOutcome:
        sha = _sha256(path)
        outcome = FileOutcome(name=path.name, sha256=sha, status="ingested")
        if index.file(sha) is not None:
            outcome.status = "duplicate"
            outcome.problems.append("already ingested (same SHA-256); not indexed again")
            outcome.moved_to = str(self.folder.done(path))
            return outcome
        result = translate_files(mapping, read_ctf, [path])
        outcome.rejected = result.rejected_count
        problems = [str(e) for e in result.file_errors] + [str(e) for e in result.rejected]
        outcome.problems = problems
        if result.file_errors or not result.records:
            outcome.status = "failed"
            outcome.accepted = 0
            rule = "file_unusable" if result.file_errors else "no_usable_record"
            detail = "File not ingested; nothing from it was indexed."
            if not result.file_errors:
                detail += " No usable pupil record in the file."
            outcome.moved_to = str(self.folder.park(path, FileRejection(rule=rule, detail=detail, problems=problems)))
            return outcome
        records = [r for r in result.records if isinstance(r, AgencyRecord)]
        index.add_file(sha, path.name, records, result.rejected_count)
        outcome.accepted = len(records)
        report = None
        if result.rejected:
            report = (f"{len(records)} pupil record(s) accepted, {result.rejected_count} rejected:\n"
                      + "\n".join(problems) + "\n")
        outcome.moved_to = str(self.folder.done(path, report=report))
        return outcome
