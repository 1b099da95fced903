"""The social care connector's local index of loaded CIN / SSDA903 extracts (SQLite).

Extracts arrive as files (drop folder or CLI). Each is translated with its
mapping spec and every child is upserted by (format, LA, LA child id), so
loading the same or a newer extract again is idempotent: the latest version
of a child wins, nothing is duplicated, and an unchanged file is skipped by
its content digest. A file that yields nothing usable is moved aside into
``rejected/`` with a ``.reason.txt`` naming the problem (never any content).

Search: every child (one entry per LA child id, CIN and SSDA903 merged, so
the two formats of one child are never a near-tie with each other) is kept in a
:class:`~mashlink.matching.index.MatchIndex` beside the records
(``social_care_match.sqlite3``), the one candidate-search index every agency
uses: blocking passes, no truncating ``LIMIT`` (it was 200), households, and
unborn children found through their mother's entry. It is updated with each
batch of an extract as it loads (the match index first, so a committed child
is never unsearchable; an index missing or emptier than the records is rebuilt
when the index is opened). Lookups by identifier remain for the CLI and tools;
the index never decides a match itself.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import structlog

from ...mapping.stream import StreamSummary, iter_native
from ...mapping import load_spec
from ...mapping.formats import mappings_dir
from ...mapping.compiler import CompiledMapping
from ...mapping.errors import Issue, RecordError
from ...mapping.readers import Reader, RowProblem
from ...config.matching import MatchPolicy
from ...matching.index import MatchIndex, entries_from_records
from ...schemas.finding import Finding
from ...schemas.identifiers import IdentifierSystem
from ...schemas.record import AgencyRecord
from ..files import FileRejection, move_done, park_file

log = structlog.get_logger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    digest TEXT PRIMARY KEY, names TEXT NOT NULL, format TEXT NOT NULL, ingested_at TEXT NOT NULL,
    accepted INTEGER NOT NULL, rejected INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    key TEXT PRIMARY KEY, format TEXT NOT NULL, la_code TEXT NOT NULL, child_id TEXT NOT NULL,
    birth_date TEXT, family TEXT, postcode TEXT, record_json TEXT NOT NULL, source_file TEXT NOT NULL,
    updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS records_child ON records (la_code, child_id);
CREATE INDEX IF NOT EXISTS records_dob ON records (birth_date);
CREATE INDEX IF NOT EXISTS records_family ON records (family);
CREATE INDEX IF NOT EXISTS records_postcode ON records (postcode);
CREATE TABLE IF NOT EXISTS identifiers (
    key TEXT NOT NULL, system TEXT NOT NULL, scope TEXT NOT NULL, value TEXT NOT NULL, trusted INTEGER NOT NULL,
    PRIMARY KEY (key, system, scope, value));
CREATE INDEX IF NOT EXISTS identifiers_value ON identifiers (system, value);
"""

FORMATS = ("cin", "ssda903")


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


def la_code_of(record: AgencyRecord) -> str:
    """The LA whose child id the record carries (scopes the id)."""
    la_id = record.person.identifier(IdentifierSystem.LA_CHILD_ID)
    return (la_id.scope if la_id else None) or record.source.organisation or "unknown-la"


def child_key(la_code: str, child_id: str) -> str:
    """The match index's record id of one child: the LA child id within its LA."""
    return f"{la_code}:{child_id}"


def split_child_key(key: str) -> tuple[str, str]:
    la_code, _, child_id = key.partition(":")
    return la_code, child_id


@dataclass
class IngestResult:
    """What one ingest did; ``rejections`` are the engine's messages (position, field, rule; no values)."""

    files: list[str]
    format: str
    accepted: int = 0
    rejected: int = 0
    flagged: int = 0
    skipped: bool = False
    moved_to: list[str] = field(default_factory=list)
    rejections: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return self.accepted > 0 or self.skipped


def sniff_format(path: Path) -> str | None:
    """``cin`` / ``ssda903`` from the content (CSV files are SSDA903), None if neither."""
    if path.suffix.lower() == ".csv":
        return "ssda903"
    try:
        with path.open("rb") as fh:
            head = fh.read(256 * 1024)
    except OSError:
        return None
    if b"<CINdetails" in head or b"<ChildIdentifiers" in head:
        return "cin"
    if b"<Child" in head and (b"<CHILD>" in head or b"<Episode" in head or b"<EPISODE" in head):
        return "ssda903"
    if b"EXPSSDA903" in head:                       # the layout LA systems export (EXPSSDA903/CHILD/HEADER)
        return "ssda903"
    return None


class SocialCareIndex:
    """SQLite index in ``state_dir`` (one connection per operation: safe across worker threads).

    ``policy``: the agency's ``matching:`` thresholds; they win over whatever policy an existing match
    index file holds, so a configuration change takes effect on restart. None (a command-line run with
    no agency configuration) keeps the file's policy, or the ``MatchPolicy`` defaults for a new file.
    """

    def __init__(self, state_dir: Path, *, la_code: str | None = None, policy: MatchPolicy | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.policy = policy
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.state_dir / "social_care_index.sqlite3"
        self.la_code = la_code
        with self._db() as db:
            db.executescript(_SCHEMA)
        self.match_path = self.state_dir / "social_care_match.sqlite3"
        self.matcher = self._open_matcher()

    # -- the match index ----------------------------------------------------------------
    def _open_matcher(self) -> MatchIndex:
        """Open (or create) the match index; rebuild it from the records when it holds fewer children than they do."""
        matcher = (MatchIndex.open(self.match_path) if self.match_path.is_file()
                   else MatchIndex.create(self.match_path, policy=self.policy))
        if self.policy is not None and matcher.policy != self.policy:
            matcher.set_policy(self.policy)  # a file from before a configuration change: the configured policy wins
        with self._db() as db:
            children = [child_key(la, cid) for la, cid in
                        db.execute("SELECT DISTINCT la_code, child_id FROM records ORDER BY la_code, child_id")]
        if children:
            held = set(matcher.record_ids())
            if any(key not in held for key in children):
                log.warning("social_care_match_index_rebuilt", children=len(children))
                kept = matcher.policy
                matcher.close()
                self.match_path.unlink()
                for suffix in ("-wal", "-shm"):
                    self.match_path.with_name(self.match_path.name + suffix).unlink(missing_ok=True)
                matcher = MatchIndex.create(self.match_path, policy=self.policy or kept)
                matcher.add_entries(entries_from_records(
                    self.child(*split_child_key(key)) for key in children))
        return matcher

    def child(self, la_code: str, child_id: str) -> AgencyRecord:
        """One child merged across formats, as the match index holds it (record id ``la:child_id``)."""
        records = self.records_of_child(la_code, child_id)
        if not records:
            raise KeyError(child_key(la_code, child_id))
        merged = merge_child(records)
        return merged.model_copy(update={"source": merged.source.model_copy(
            update={"record_id": child_key(la_code, child_id)})})

    def close(self) -> None:
        self.matcher.close()

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.db_path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            yield db
            db.commit()
        except BaseException:
            db.rollback()
            raise
        finally:
            db.close()

    # -- loading ----------------------------------------------------------------------
    def _mapping_and_reader(self, fmt: str) -> tuple[CompiledMapping, Reader]:
        from .cin import CinReader
        from .ssda903 import Ssda903Reader

        if fmt not in FORMATS:
            raise ValueError(f"unknown social care format {fmt!r}; known: {', '.join(FORMATS)}")
        spec = mappings_dir() / ("cin.yaml" if fmt == "cin" else "ssda903.yaml")
        reader: Reader = CinReader(la_code=self.la_code) if fmt == "cin" else Ssda903Reader(la_code=self.la_code)
        return load_spec(spec), reader

    def ingest(self, paths: Sequence[Path], fmt: str, *, move_bad_to: Path | None = None) -> IngestResult:
        """Load one extract (one CIN file, or one SSDA903 XML file or CSV set); idempotent."""
        paths = [Path(p) for p in paths]
        result = IngestResult([str(p) for p in paths], fmt)
        digest = _digest(paths)
        with self._db() as db:
            if digest and db.execute("SELECT 1 FROM files WHERE digest = ?", (digest,)).fetchone():
                result.skipped = True
                return result
        mapping, reader = self._mapping_and_reader(fmt)
        summary = StreamSummary()
        now = datetime.now(timezone.utc).isoformat()
        batch: list[AgencyRecord] = []
        for native, position in iter_native(reader, paths, mapping, summary):
            if isinstance(native, RowProblem):
                result.rejected += 1
                result.rejections.append(str(RecordError(position, [Issue("record", "format", native.message)])))
                continue
            try:
                record = mapping.translate(native, position)
            except RecordError as error:
                result.rejected += 1
                result.rejections.append(str(error))
                continue
            assert isinstance(record, AgencyRecord)
            result.accepted += 1
            result.flagged += bool(record.issues)
            batch.append(record)
            if len(batch) >= 500:
                self._upsert(batch, fmt, position.file, now)
                batch.clear()
        if batch:
            self._upsert(batch, fmt, paths[0].name if paths else "", now)
        result.errors = [str(e) for e in summary.file_errors] + summary.warnings
        if result.accepted == 0:
            if move_bad_to is not None:
                reason = "; ".join(str(e) for e in summary.file_errors) or (
                    f"no usable record: {result.rejected} rejected" if result.rejected else "no records found")
                result.moved_to = [str(_move_aside(p, move_bad_to, "no_usable_record", reason)) for p in paths
                                   if p.exists()]
            return result
        with self._db() as db:
            if digest:
                db.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)",
                           (digest, json.dumps([p.name for p in paths]), fmt, now, result.accepted,
                            result.rejected))
        return result

    def ingest_folder(self, inbox: Path) -> list[IngestResult]:
        """Load every extract in a drop folder: each XML file alone, all CSV files as one SSDA903 set.

        Loaded files move to ``state_dir/processed``; unusable ones to ``state_dir/rejected`` with a reason.
        """
        inbox = Path(inbox)
        processed = self.state_dir / "processed"
        rejected = self.state_dir / "rejected"
        results: list[IngestResult] = []
        files = sorted(p for p in inbox.iterdir() if p.is_file() and not p.name.startswith("."))
        csvs = [p for p in files if p.suffix.lower() == ".csv"]
        groups: list[tuple[list[Path], str | None]] = [([p], sniff_format(p)) for p in files if p not in csvs]
        if csvs:
            groups.append((csvs, "ssda903"))
        for paths, fmt in groups:
            if fmt is None:
                for p in paths:
                    _move_aside(p, rejected, "format_not_recognised", "not a CIN census or SSDA903 extract")
                results.append(IngestResult([str(p) for p in paths], "unknown", moved_to=[str(rejected)]))
                continue
            result = self.ingest(paths, fmt, move_bad_to=rejected)
            if result.usable:
                for p in paths:
                    move_done(p, processed)
            results.append(result)
        return results

    def add_records(self, records: list[AgencyRecord], fmt: str, source_file: str) -> None:
        """Upsert translated records of one format (as an extract load does, batch by batch)."""
        if fmt not in FORMATS:
            raise ValueError(f"unknown social care format {fmt!r}; known: {', '.join(FORMATS)}")
        self._upsert(records, fmt, source_file, datetime.now(timezone.utc).isoformat())

    def _upsert(self, records: list[AgencyRecord], fmt: str, source_file: str, now: str) -> None:
        with self._db() as db:
            children = {(la_code_of(r), r.source.record_id) for r in records}
            stale: set[str] = set()
            for la_code, child_id in children:
                old = [AgencyRecord.model_validate_json(r[0]) for r in db.execute(
                    "SELECT record_json FROM records WHERE la_code = ? AND child_id = ?", (la_code, child_id))]
                key = child_key(la_code, child_id)
                stale.update(f"{key}/{p.person_id}" for rec in old for p in rec.related_people)
            for record in records:
                person = record.person
                la_code = la_code_of(record)
                key = f"{fmt}:{la_code}:{record.source.record_id}"
                name = person.official_name
                family = name.family.lower() if name and name.family else None
                postcode = next((a.postcode for a in person.addresses if a.postcode), None)
                dob = person.birth_date.value.isoformat() if person.birth_date else None
                db.execute(
                    "INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (key, fmt, la_code, record.source.record_id, dob, family, postcode,
                     record.model_dump_json(), source_file, now),
                )
                db.execute("DELETE FROM identifiers WHERE key = ?", (key,))
                for ident in person.identifiers:
                    db.execute(
                        "INSERT OR IGNORE INTO identifiers VALUES (?, ?, ?, ?, ?)",
                        (key, ident.system.value, ident.scope or "", ident.value, int(ident.trusted)),
                    )
            merged = []
            for la_code, child_id in sorted(children):
                rows = db.execute("SELECT record_json FROM records WHERE la_code = ? AND child_id = ? ORDER BY format",
                                  (la_code, child_id)).fetchall()
                child = merge_child([AgencyRecord.model_validate_json(r[0]) for r in rows])
                merged.append(child.model_copy(update={"source": child.source.model_copy(
                    update={"record_id": child_key(la_code, child_id)})}))
            entries = list(entries_from_records(merged))
            stale -= {e.record_id for e in entries}
            # The match index first (its own file and transaction): a child committed here is searchable.
            if stale:
                self.matcher.remove(sorted(stale))
            self.matcher.add_entries(entries)

    # -- lookups ----------------------------------------------------------------------
    def count(self) -> int:
        with self._db() as db:
            return int(db.execute("SELECT COUNT(*) FROM records").fetchone()[0])

    def by_identifier(self, system: IdentifierSystem, value: str, scope: str | None = None) -> list[AgencyRecord]:
        """Records holding this *trusted* identifier; scoped systems need the same scope."""
        sql = "SELECT r.record_json FROM identifiers i JOIN records r ON r.key = i.key " \
              "WHERE i.system = ? AND i.value = ? AND i.trusted = 1"
        args: list[str] = [system.value, value]
        if scope is not None:
            sql += " AND i.scope = ?"
            args.append(scope)
        with self._db() as db:
            rows = db.execute(sql + " ORDER BY r.key", args).fetchall()
        return [AgencyRecord.model_validate_json(r[0]) for r in rows]

    def records_of_child(self, la_code: str, child_id: str) -> list[AgencyRecord]:
        """Every format's record of one child (CIN first, then SSDA903)."""
        with self._db() as db:
            rows = db.execute("SELECT record_json FROM records WHERE la_code = ? AND child_id = ? ORDER BY format",
                              (la_code, child_id)).fetchall()
        return [AgencyRecord.model_validate_json(r[0]) for r in rows]


def _digest(paths: Sequence[Path]) -> str | None:
    h = hashlib.sha256()
    try:
        for p in sorted(paths, key=lambda x: x.name):
            h.update(p.name.encode())
            with p.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1024 * 1024), b""):
                    h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


def _move_aside(path: Path, folder: Path, rule: str, reason: str) -> Path:
    """Park an unusable extract with its reason (the shared drop-folder rule: reason fsynced before the move)."""
    return park_file(path, folder, FileRejection(rule=rule, detail=reason))
