"""The pupil index: canonical records from ingested CTF files, searchable by UPN and demographics.

A plain SQLite file in the connector's state directory (one writer, many
readers; WAL mode). Each pupil is one row keyed by the record id (the UPN, or
a name-free key when there is no usable UPN), holding the canonical
``AgencyRecord`` as JSON plus a few normalised columns for search.

The same pupil arrives again in later CTFs (a move, a new term): the newest
file's view of the person, contacts and issues replaces the old one, and
findings are *merged* by ``finding_id`` so history held only by an earlier
school is not lost. A file is recorded by its SHA-256 in the same transaction
as its pupils, so re-ingesting the same bytes is a no-op.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from mashlink.schemas.identifiers import IdentifierSystem
from mashlink.schemas.person import Person
from mashlink.schemas.record import AgencyRecord

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
CREATE INDEX IF NOT EXISTS pupils_dob ON pupils (dob);
CREATE INDEX IF NOT EXISTS pupils_family ON pupils (family);
CREATE INDEX IF NOT EXISTS pupils_postcode ON pupils (postcode);
CREATE TABLE IF NOT EXISTS pupil_names (
    record_id TEXT NOT NULL,
    family TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS pupil_names_family ON pupil_names (family);
"""


@dataclass(frozen=True)
class IndexedFile:
    sha256: str
    name: str
    ingested_at: str
    accepted: int
    rejected: int


def _families(person: Person) -> set[str]:
    return {n.family.strip().lower() for n in person.names if n.family and n.family.strip()}


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
    """SQLite-backed pupil index; safe to share between threads (one lock around writes)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30)
        try:
            yield db
        finally:
            db.close()

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
        """Index one file's records in one transaction; False (nothing written) when already indexed."""
        records = list(records)
        now = datetime.now(timezone.utc).isoformat()
        with self._lock, self._connect() as db:
            try:
                db.execute("BEGIN IMMEDIATE")
                if db.execute("SELECT 1 FROM ctf_files WHERE sha256 = ?", (sha256,)).fetchone():
                    db.execute("ROLLBACK")
                    return False
                for record in records:
                    self._upsert(db, record, sha256, now)
                db.execute("INSERT INTO ctf_files (sha256, name, ingested_at, accepted, rejected) "
                           "VALUES (?, ?, ?, ?, ?)", (sha256, name, now, len(records), rejected))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        return True

    def _upsert(self, db: sqlite3.Connection, record: AgencyRecord, sha256: str, now: str) -> None:
        record_id = record.source.record_id
        row = db.execute("SELECT record_json FROM pupils WHERE record_id = ?", (record_id,)).fetchone()
        if row:
            record = merge_records(AgencyRecord.model_validate_json(row[0]), record)
        person = record.person
        upn = person.identifier(IdentifierSystem.UPN)
        dob = person.birth_date.value.isoformat() if person.birth_date else None
        families = _families(person)
        official = person.official_name
        family = official.family.strip().lower() if official and official.family else None
        db.execute(
            "INSERT INTO pupils (record_id, upn, upn_trusted, family, dob, postcode, record_json, file_sha256, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(record_id) DO UPDATE SET "
            "upn = excluded.upn, upn_trusted = excluded.upn_trusted, family = excluded.family, dob = excluded.dob, "
            "postcode = excluded.postcode, record_json = excluded.record_json, file_sha256 = excluded.file_sha256, "
            "updated_at = excluded.updated_at",
            (record_id, upn.value if upn else None, int(bool(upn and upn.trusted)), family, dob, _postcode(person),
             record.model_dump_json(exclude_none=True), sha256, now),
        )
        db.execute("DELETE FROM pupil_names WHERE record_id = ?", (record_id,))
        db.executemany("INSERT INTO pupil_names (record_id, family) VALUES (?, ?)",
                       [(record_id, f) for f in sorted(families)])

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

    def demographic_candidates(self, *, families: Iterable[str], dob: str | None, postcode: str | None,
                               limit: int = 500) -> list[AgencyRecord]:
        """A generous pre-selection for demographic scoring: same surname (any name), DOB (or day/month swapped) or postcode.

        Deliberately wide (typos, changed surnames, transposed day and month
        are scored later by the matcher); bounded by ``limit``.
        """
        clauses, params = [], []
        fams = sorted({f.strip().lower() for f in families if f and f.strip()})
        if fams:
            clauses.append(f"record_id IN (SELECT record_id FROM pupil_names WHERE family IN "
                           f"({', '.join('?' * len(fams))}))")
            params.extend(fams)
        if dob:
            dobs = {dob}
            year, month, day = dob[:4], dob[5:7], dob[8:10]
            if int(day) <= 12:  # day and month swapped by a US-style or careless entry
                dobs.add(f"{year}-{day}-{month}")
            clauses.append(f"dob IN ({', '.join('?' * len(dobs))})")
            params.extend(sorted(dobs))
        if postcode:
            clauses.append("postcode = ?")
            params.append(postcode.replace(" ", "").upper())
        if not clauses:
            return []
        sql = f"SELECT record_json FROM pupils WHERE {' OR '.join(clauses)} LIMIT ?"
        with self._connect() as db:
            rows = db.execute(sql, (*params, limit)).fetchall()
        return [AgencyRecord.model_validate_json(r[0]) for r in rows]

    def count(self) -> int:
        with self._connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM pupils").fetchone()[0])
