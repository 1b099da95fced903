"""The pupil index: canonical records from ingested CTF files, searched with the shared matcher.

A plain SQLite file in the connector's state directory (one writer, many
readers; WAL mode). Each pupil is one row keyed by the record id (the UPN, or
a name-free key when there is no usable UPN), holding the canonical
``AgencyRecord`` as JSON (what is released on a confirmed match).

Search goes through a :class:`~mashlink.matching.index.MatchIndex` beside it
(``<name>.match.sqlite3``): the one candidate-search index every agency uses
(blocking passes, no truncating ``LIMIT``, households, unborn children through
their mother's entry). It is kept up to date incrementally as each CTF file is
ingested: the file's pupils (and the people held on their records) are
upserted, and people a newer version of a record no longer holds are removed.
The match index is written before the pupils' transaction commits, so a pupil
is never stored unsearchable; an index missing or emptier than the pupils
(a crash between the two, or an index from before the matcher) is rebuilt
from the pupils when the index is opened.

Ingest is linear in the file's pupils: per pupil one primary-key read and one
upsert here, and the match index's per-entry upsert (the old surname table was
rescanned for every pupil, 2.6 s for 10,000 pupils but 30 s at 60,000).

The same pupil arrives again in later CTFs (a move, a new term): the newest
file's view of the person, contacts and issues replaces the old one, and
findings are *merged* by ``finding_id`` so history held only by an earlier
school is not lost. A file is recorded by its SHA-256 in the same transaction
as its pupils, so re-ingesting the same bytes is a no-op.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import structlog

from ...config.matching import MatchPolicy
from ...matching.index import MatchIndex, entries_from_records
from ...schemas.identifiers import IdentifierSystem
from ...schemas.person import Person
from ...schemas.record import AgencyRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ctf_files (
    sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    ingested_at TEXT NOT NULL,
    accepted INTEGER NOT NULL,
    rejected INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pupils (
    record_id TEXT PRIMARY KEY,
    upn TEXT,
    upn_trusted INTEGER NOT NULL DEFAULT 0,
    family TEXT,
    dob TEXT,
    postcode TEXT,
    record_json TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS pupils_upn ON pupils (upn);
DROP TABLE IF EXISTS pupil_names;
"""

log = structlog.get_logger(__name__)

_REBUILD_BATCH = 2000


@dataclass(frozen=True)
class IndexedFile:
    sha256: str
    name: str
    ingested_at: str
    accepted: int
    rejected: int


def _postcode(person: Person) -> str | None:
    for address in person.addresses:
        if address.postcode:
            return address.postcode.replace(" ", "").upper()
    return None


def merge_records(old: AgencyRecord, new: AgencyRecord) -> AgencyRecord:
    """The newer record's person, contacts and issues; findings of both, the newer winning per id."""
    findings = {f.finding_id: f for f in old.findings}
    findings.update({f.finding_id: f for f in new.findings})
    return new.model_copy(update={"findings": list(findings.values())})


class PupilIndex:
    """SQLite-backed pupil index plus its match index; safe to share between threads (one lock around writes).

    ``on_connect`` (optional) is called with every SQLite connection the pupil store opens: tests
    count the work an ingest does with it (``set_progress_handler``), never its time.
    ``policy``: the agency's ``matching:`` thresholds; they win over whatever policy an existing match
    index file holds, so a configuration change takes effect on restart. None (a command-line run with
    no agency configuration) keeps the file's policy, or the ``MatchPolicy`` defaults for a new file.
    """

    def __init__(self, path: str | Path, *, on_connect: Callable[[sqlite3.Connection], None] | None = None,
                 policy: MatchPolicy | None = None) -> None:
        self.path = Path(path)
        self.policy = policy
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._on_connect = on_connect
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
        self.match_path = self.path.with_name(self.path.stem + ".match.sqlite3")
        self.matcher = self._open_matcher()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30)
        if self._on_connect is not None:
            self._on_connect(db)
        try:
            yield db
        finally:
            db.close()

    # -- the match index ----------------------------------------------------------------
    def _open_matcher(self) -> MatchIndex:
        """Open (or create) the match index; rebuild it from the pupils when it holds fewer records than they do."""
        matcher = (MatchIndex.open(self.match_path) if self.match_path.is_file()
                   else MatchIndex.create(self.match_path, policy=self.policy))
        if self.policy is not None and matcher.policy != self.policy:
            matcher.set_policy(self.policy)  # a file from before a configuration change: the configured policy wins
        pupils = self.count()
        if pupils and self._subject_entries(matcher) < pupils:
            log.warning("pupil_match_index_rebuilt", pupils=pupils)
            kept = matcher.policy
            matcher.close()
            self.match_path.unlink()
            for suffix in ("-wal", "-shm"):
                self.match_path.with_name(self.match_path.name + suffix).unlink(missing_ok=True)
            matcher = MatchIndex.create(self.match_path, policy=self.policy or kept)
            matcher.add_entries(entries_from_records(self._all_records()))
        return matcher

    def _subject_entries(self, matcher: MatchIndex) -> int:
        """How many pupils (record subjects) the match index holds: every pupil row must be one."""
        with self._connect() as db:
            ids = {r[0] for r in db.execute("SELECT record_id FROM pupils")}
        return sum(1 for rid in matcher.record_ids() if rid in ids)

    def _all_records(self) -> Iterator[AgencyRecord]:
        with self._connect() as db:
            cursor = db.execute("SELECT record_json FROM pupils ORDER BY record_id")
            while rows := cursor.fetchmany(_REBUILD_BATCH):
                for (text,) in rows:
                    yield AgencyRecord.model_validate_json(text)

    def close(self) -> None:
        self.matcher.close()

    # -- files ------------------------------------------------------------------------
    def file(self, sha256: str) -> IndexedFile | None:
        with self._connect() as db:
            row = db.execute("SELECT sha256, name, ingested_at, accepted, rejected FROM ctf_files WHERE sha256 = ?",
                             (sha256,)).fetchone()
        return IndexedFile(*row) if row else None

    def files(self) -> list[IndexedFile]:
        with self._connect() as db:
            rows = db.execute("SELECT sha256, name, ingested_at, accepted, rejected FROM ctf_files "
                              "ORDER BY ingested_at").fetchall()
        return [IndexedFile(*r) for r in rows]

    def add_file(self, sha256: str, name: str, records: Iterable[AgencyRecord], rejected: int) -> bool:
        """Index one file's records in one transaction; False (nothing written) when already indexed.

        The same record id twice in one file: the later wins (merged with the earlier's findings).
        """
        records = list(records)
        now = datetime.now(timezone.utc).isoformat()
        with self._lock, self._connect() as db:
            try:
                db.execute("BEGIN IMMEDIATE")
                if db.execute("SELECT 1 FROM ctf_files WHERE sha256 = ?", (sha256,)).fetchone():
                    db.execute("ROLLBACK")
                    return False
                merged: dict[str, AgencyRecord] = {}
                stale: set[str] = set()
                for record in records:
                    record_id = record.source.record_id
                    old = merged.get(record_id)
                    if old is None:
                        row = db.execute("SELECT record_json FROM pupils WHERE record_id = ?",
                                         (record_id,)).fetchone()
                        old = AgencyRecord.model_validate_json(row[0]) if row else None
                    if old is not None:
                        stale.update(f"{record_id}/{p.person_id}" for p in old.related_people)
                        record = merge_records(old, record)
                    merged[record_id] = record
                    self._write(db, record, sha256, now)
                entries = list(entries_from_records(merged.values()))
                stale -= {e.record_id for e in entries}
                # The match index first: a pupil committed below is never unsearchable.
                if stale:
                    self.matcher.remove(sorted(stale))
                self.matcher.add_entries(entries)
                db.execute("INSERT INTO ctf_files (sha256, name, ingested_at, accepted, rejected) "
                           "VALUES (?, ?, ?, ?, ?)", (sha256, name, now, len(records), rejected))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        return True

    @staticmethod
    def _write(db: sqlite3.Connection, record: AgencyRecord, sha256: str, now: str) -> None:
        person = record.person
        upn = person.identifier(IdentifierSystem.UPN)
        dob = person.birth_date.value.isoformat() if person.birth_date else None
        official = person.official_name
        family = official.family.strip().lower() if official and official.family else None
        db.execute(
            "INSERT INTO pupils (record_id, upn, upn_trusted, family, dob, postcode, record_json, file_sha256, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(record_id) DO UPDATE SET "
            "upn = excluded.upn, upn_trusted = excluded.upn_trusted, family = excluded.family, dob = excluded.dob, "
            "postcode = excluded.postcode, record_json = excluded.record_json, file_sha256 = excluded.file_sha256, "
            "updated_at = excluded.updated_at",
            (record.source.record_id, upn.value if upn else None, int(bool(upn and upn.trusted)), family, dob,
             _postcode(person), record.model_dump_json(exclude_none=True), sha256, now),
        )

    # -- reading ------------------------------------------------------------------------
    def get(self, record_id: str) -> AgencyRecord | None:
        with self._connect() as db:
            row = db.execute("SELECT record_json FROM pupils WHERE record_id = ?", (record_id,)).fetchone()
        return AgencyRecord.model_validate_json(row[0]) if row else None

    def by_upn(self, upn: str) -> list[AgencyRecord]:
        """Records whose current UPN is ``upn`` and passed its check (exact match material only)."""
        with self._connect() as db:
            rows = db.execute("SELECT record_json FROM pupils WHERE upn = ? AND upn_trusted = 1",
                              (upn.upper(),)).fetchall()
        return [AgencyRecord.model_validate_json(r[0]) for r in rows]

    def count(self) -> int:
        with self._connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM pupils").fetchone()[0])
