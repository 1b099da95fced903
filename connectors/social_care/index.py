"""The social care connector's local index of loaded CIN / SSDA903 extracts (SQLite).

Extracts arrive as files (drop folder or CLI). Each is translated with its
mapping spec and every child is upserted by (format, LA, LA child id), so
loading the same or a newer extract again is idempotent: the latest version
of a child wins, nothing is duplicated, and an unchanged file is skipped by
its content digest. A file that yields nothing usable is moved aside into
``rejected/`` with a ``.reason.txt`` naming the problem (never any content).

Lookups: exact by identifier (NHS number, UPN, LA child id *within its LA*),
and a demographic block (same date of birth, family name or postcode) for
the matcher to score. The index never decides a match itself.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from mashlink.mapping.stream import StreamSummary, iter_native
from mashlink.mapping import load_spec
from mashlink.mapping.formats import mappings_dir
from mashlink.mapping.compiler import CompiledMapping
from mashlink.mapping.errors import Issue, RecordError
from mashlink.mapping.readers import Reader, RowProblem
from mashlink.schemas.identifiers import IdentifierSystem
from mashlink.schemas.person import Person
from mashlink.schemas.record import AgencyRecord

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
    """SQLite index in ``state_dir`` (one connection per operation: safe across worker threads)."""

    def __init__(self, state_dir: Path, *, la_code: str | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.state_dir / "social_care_index.sqlite3"
        self.la_code = la_code
        with self._db() as db:
            db.executescript(_SCHEMA)

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
        from mashlink.connectors.social_care.cin import CinReader
        from mashlink.connectors.social_care.ssda903 import Ssda903Reader

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
                result.moved_to = [str(_move_aside(p, move_bad_to, reason)) for p in paths if p.exists()]
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
                    _move_aside(p, rejected, "not a CIN census or SSDA903 extract (format not recognised)")
                results.append(IngestResult([str(p) for p in paths], "unknown", moved_to=[str(rejected)]))
                continue
            result = self.ingest(paths, fmt, move_bad_to=rejected)
            if result.usable:
                processed.mkdir(parents=True, exist_ok=True)
                for p in paths:
                    shutil.move(str(p), processed / p.name)
            results.append(result)
        return results

    def _upsert(self, records: list[AgencyRecord], fmt: str, source_file: str, now: str) -> None:
        with self._db() as db:
            for record in records:
                person = record.person
                la_id = person.identifier(IdentifierSystem.LA_CHILD_ID)
                la_code = (la_id.scope if la_id else None) or record.source.organisation or "unknown-la"
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

    def demographic_block(self, person: Person, limit: int = 200) -> list[AgencyRecord]:
        """Records sharing a date of birth, family name or postcode with ``person`` (for scoring)."""
        clauses, args = [], []
        if person.birth_date is not None:
            clauses.append("birth_date = ?")
            args.append(person.birth_date.value.isoformat())
        families = {n.family.lower() for n in person.names if n.family}
        for family in sorted(families):
            clauses.append("family = ?")
            args.append(family)
        for postcode in sorted({a.postcode for a in person.addresses if a.postcode}):
            clauses.append("postcode = ?")
            args.append(postcode)
        if not clauses:
            return []
        with self._db() as db:
            rows = db.execute(f"SELECT record_json FROM records WHERE {' OR '.join(clauses)} ORDER BY key LIMIT ?",
                              [*args, limit]).fetchall()
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


def _move_aside(path: Path, folder: Path, reason: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    n = 1
    while target.exists():
        target = folder / f"{path.stem}.{n}{path.suffix}"
        n += 1
    shutil.move(str(path), target)
    target.with_name(target.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
    return target
