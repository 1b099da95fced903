"""The candidate-search index: one SQLite file per agency, searched by blocking key, scored in full.

Why this exists
===============
Each connector used to search its agency's records its own way: the police
store compared every record (24 s per subject at 200,000 people), and the
SQLite connectors cut their candidate lists with ``LIMIT 500`` / ``LIMIT 200``,
which for the commonest surnames dropped about half the people a full scan
finds. ``MatchIndex`` is the one search every agency uses: it stores each
person once with a handful of blocking keys (:mod:`mashlink.matching.blocking`),
a search reads **every** record sharing any key with the subject (no
truncating ``LIMIT``), scores each with the calibrated :class:`Scorer`, adds
the other members of the best candidates' households, and lets
:func:`~mashlink.matching.decide.decide` turn near-ties (twins, siblings, a
parent with the child's name) into a question for a person.

Search, step by step
====================
1. The subject's blocking keys (with the swapped date of birth) are read; a
   key shared by more than ``max_block`` people is skipped only when a more
   selective pass covered the subject (``blocking``, "Big blocks").
2. With a ``mother`` (an unborn child, or a referral naming her), every record
   blocking finds for her is followed to the children linked to it.
3. Every candidate is scored (comparison vector, learned weights, term
   frequencies, vetoes); identical comparisons are scored once per search.
4. For each candidate at review level or above, the other members of its
   household (same address and family name, or same mother) are fetched and
   scored too, so a twin or sibling the passes did not reach is still seen.
5. ``decide`` gets every candidate at review level or above and makes the
   subject's outcome: match, candidate (a person decides) or no match.

Storage
=======
``persons``: one row per record id (the agency's stable id for the person):
the canonical ``Person`` JSON, the scorer's comparison features of that
person (``feature_store``: computed once at load, so a search decodes them
instead of re-validating and re-normalising every candidate), the record id
of the person's mother in this index (unborn children are found through it),
a household key (address + family name) and the person's blocking keys (so
an update removes exactly what was stored). ``blocks``: (key, rid) pairs,
keys as 64-bit hashes. ``meta``: the schema version, the features layout, the
matching policy, and after ``train()`` the model, term frequencies and a
training report. Loading into an empty index drops the key indexes, inserts
with ``executemany`` in one transaction and builds the indexes afterwards;
loading into a populated index upserts record by record (an agency export
reload): a record id already present has its stored keys removed first.
``prepare_person_lines`` / ``prepare_entry`` do the per-person work apart
from storage, so ``mashlink match index build`` spreads it over every core.

Threads: one connection guarded by a lock, so a connector may share an index
between worker threads; searches are serialised, not parallel.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, Field

from .blocking import MORE_SELECTIVE, BlockKey, BlockPass, blocking_profile, mother_key
from .comparisons import (
    ComparisonDetail,
    ComparisonVector,
    PersonFeatures,
    compare_features,
    features,
)
from .decide import ScoredCandidate, SearchOutcome, considered, decide
from .feature_store import FEATURES_LAYOUT, decode_features, encode_features
from .household_evidence import HouseholdEvidence, could_be_shown, household_level, weighs_on, with_household
from .labels import LabelReport, ReviewLabel, label_vectors
from .model import MatchModel, estimate_u, train_em, train_from_labels
from .policy import MatchPolicy
from .rules import MatchDecision
from .scorer import Scorer, ScoredPair
from .term_frequency import TermFrequencies
from ..schemas.codes import RelationshipType
from ..schemas.person import Person
from ..schemas.record import AgencyRecord

log = structlog.get_logger(__name__)

SCHEMA_VERSION = "1"

#: Blocks shared by more people than this may be skipped when a more selective pass covered the
#: subject (see :mod:`mashlink.matching.blocking`, "Big blocks"). At 1,000,000 people the largest
#: blocks (the commonest surname sound + birth year) hold ~350 people. Measured on a synthetic
#: 1,000,000-person index with 2,000 corrupted subjects: at 100 no subject found with every block
#: read was lost, and the 99th-percentile candidate count fell from 489 to 254.
DEFAULT_MAX_BLOCK = 100

_BATCH = 5000
_IN_CHUNK = 500  # SQLite host parameters per IN (...) query


class IndexEntry(BaseModel):
    """One person to index: the agency's stable record id, the person, and their mother's record id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    record_id: str = Field(min_length=1, max_length=512)
    person: Person
    mother_record_id: str | None = Field(default=None, min_length=1, max_length=512,
                                         description="Record id (in this index) of the person's mother")


def mother_links(record: AgencyRecord) -> dict[str, str]:
    """person_id -> mother's person_id within one record (``mother_person_id``, else a ``mother`` relationship)."""
    people = [record.person, *record.related_people]
    known = {p.person_id for p in people}
    links: dict[str, str] = {}
    for rel in record.relationships:
        if rel.type is RelationshipType.MOTHER and rel.from_person_id in known and rel.to_person_id in known:
            links.setdefault(rel.to_person_id, rel.from_person_id)
    for person in people:
        if person.mother_person_id in known:
            links[person.person_id] = person.mother_person_id
    return links


def entries_from_records(records: Iterable[AgencyRecord]) -> Iterator[IndexEntry]:
    """Index entries for every person of a stream of agency records, each person once.

    Record ids: a record's subject is ``source.record_id``; a related person is
    ``<record_id>/<person_id>``, unless some record of the same load has that person as its
    subject (POLE exports list every person as a record and again as related to others):
    then it is that record, not a second copy (a copy would be a near-tie with itself and
    never auto-match). Mother links (``mother_person_id`` or a ``mother`` relationship) become
    the mother's record id, so an unborn child is found through its mother's entry.

    Subjects without a link to a related person stream straight through; related people and
    the subjects linked to them are held (as JSON) until every subject is known.
    """
    subject_ids: dict[str, str] = {}  # subject person_id -> record id
    held_related: dict[str, tuple[str, str, str | None]] = {}  # provisional record id -> (person_id, json, mother pid)
    held_subjects: list[tuple[str, str, str]] = []  # (record id, json, mother person_id)
    for record in records:
        base = record.source.record_id
        subject = record.person
        links = mother_links(record)
        subject_ids[subject.person_id] = base
        mother = links.get(subject.person_id)
        if mother is None:
            yield IndexEntry(record_id=base, person=subject)
        else:
            held_subjects.append((base, _person_json(subject), mother))
        for related in record.related_people:
            if related.person_id == subject.person_id:
                continue
            provisional = f"{base}/{related.person_id}"
            held_related[provisional] = (related.person_id, _person_json(related), links.get(related.person_id))

    def resolve(base: str, person_id: str) -> str:
        if person_id in subject_ids:
            return subject_ids[person_id]
        return f"{base}/{person_id}"

    for provisional, (person_id, text, mother) in held_related.items():
        if person_id in subject_ids:
            continue  # the same person's own record is indexed
        base = provisional[: -len(person_id) - 1]
        yield IndexEntry(record_id=provisional, person=_load_person(text),
                         mother_record_id=resolve(base, mother) if mother else None)
    for base, text, mother in held_subjects:
        yield IndexEntry(record_id=base, person=_load_person(text), mother_record_id=resolve(base, mother))


class Candidate:
    """A stored person read by a search, with the passes that found them.

    The comparison features are decoded at once; the ``Person`` only when asked for (a result shown
    to a person), because most candidates of a search are scored and dropped.
    """

    __slots__ = ("rid", "record_id", "features", "mother_record_id", "household", "passes", "_text", "_person")

    def __init__(self, rid: int, record_id: str, features: PersonFeatures, mother_record_id: str | None,
                 household: str | None, passes: frozenset[str], person_text: str) -> None:
        self.rid = rid
        self.record_id = record_id
        self.features = features
        self.mother_record_id = mother_record_id
        self.household = household
        self.passes = passes
        self._text = person_text
        self._person: Person | None = None

    @property
    def person(self) -> Person:
        if self._person is None:
            self._person = _load_person(self._text)
        return self._person

    def __repr__(self) -> str:
        return f"Candidate(record_id={self.record_id!r}, passes={sorted(self.passes)})"


@dataclass
class CandidateSet:
    """What blocking found for one subject (before scoring), and how."""

    candidates: dict[int, Candidate] = field(default_factory=dict)
    keys_read: int = 0
    keys_skipped: list[str] = field(default_factory=list)  # pass names of big blocks skipped
    big_blocks_read: int = 0  # big blocks read in full because nothing more selective covered the subject

    @property
    def record_ids(self) -> set[str]:
        return {c.record_id for c in self.candidates.values()}


_CREATE = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS persons (
    rid INTEGER PRIMARY KEY,
    record_id TEXT NOT NULL,
    mother_record_id TEXT,
    household TEXT,
    person TEXT NOT NULL,
    features TEXT,
    keys BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS blocks (key INTEGER NOT NULL, rid INTEGER NOT NULL);
"""

_INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS persons_record_id ON persons(record_id)",
    "CREATE INDEX IF NOT EXISTS persons_household ON persons(household) WHERE household IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS blocks_key ON blocks(key, rid)",
)
_DROP_INDEXES = (
    "DROP INDEX IF EXISTS persons_record_id",
    "DROP INDEX IF EXISTS persons_household",
    "DROP INDEX IF EXISTS blocks_key",
)


class NotAnIndex(ValueError):
    """The file is not a match index this version can read."""


def _person_json(person: Person) -> str:
    return person.model_dump_json(exclude_none=True, exclude_defaults=True)


def person_json(person: Person) -> str:
    """The index's own serialisation of a person (what ``prepare_json_chunks`` expects)."""
    return _person_json(person)


def _load_person(text: str) -> Person:
    return Person.model_validate_json(text)


#: What the index stores for one entry: record id, mother's record id, household key, person JSON,
#: features JSON, blocking key values. Plain data, so worker processes can prepare rows.
PreparedRow = tuple[str, str | None, str | None, str, str | None, list[int]]


def prepare_entry(entry: IndexEntry) -> PreparedRow:
    """Everything the index computes for an entry (features, keys, household) before storing it."""
    f = features(entry.person)
    keys, household = blocking_profile(f, mother_record_id=entry.mother_record_id)
    return (entry.record_id, entry.mother_record_id, household, _person_json(entry.person),
            encode_features(f), sorted({k.value for k in keys}))


def prepare_json_entries(items: Sequence[tuple[str, str | None, str]]) -> list[PreparedRow]:
    """``(record_id, mother_record_id, canonical person JSON)`` to prepared rows (run in worker processes).

    The JSON is the index's own serialisation of a validated ``Person``, stored as it is.
    """
    rows: list[PreparedRow] = []
    for record_id, mother, text in items:
        f = features(_load_person(text))
        keys, household = blocking_profile(f, mother_record_id=mother)
        rows.append((record_id, mother, household, text, encode_features(f), sorted({k.value for k in keys})))
    return rows


_CHUNK = 1000


def prepare_entries(entries: Iterable[IndexEntry], workers: int = 1) -> Iterator[PreparedRow]:
    """Prepared rows in input order; with ``workers`` > 1 the per-person work is done by a process
    pool (a few chunks in flight, so memory stays flat)."""
    if workers <= 1:
        yield from (prepare_entry(e) for e in entries)
        return

    def chunks() -> Iterator[list[tuple[str, str | None, str]]]:
        chunk: list[tuple[str, str | None, str]] = []
        for entry in entries:
            chunk.append((entry.record_id, entry.mother_record_id, _person_json(entry.person)))
            if len(chunk) >= _CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    yield from prepare_json_chunks(chunks(), workers)


def prepare_json_chunks(chunks: Iterable[list[tuple[str, str | None, str]]], workers: int) -> Iterator[PreparedRow]:
    """Chunks of ``(record_id, mother_record_id, person JSON)`` to prepared rows, in order, over ``workers``
    processes (a few chunks in flight, so memory stays flat). For loads that already hold the
    index's own person JSON, e.g. an export written once and indexed again."""
    if workers <= 1:
        for chunk in chunks:
            yield from prepare_json_entries(chunk)
        return
    from collections import deque
    from concurrent.futures import Future, ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[list[PreparedRow]]] = deque()
        for chunk in chunks:
            pending.append(pool.submit(prepare_json_entries, chunk))
            if len(pending) > 2 * workers:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()


def prepare_person_lines(lines: Sequence[tuple[int, str]]) -> tuple[list[PreparedRow], list[tuple[int, str]]]:
    """Person-JSONL lines ``(line number, text)`` to prepared rows, and ``(line number, error)`` for bad ones.

    A module-level function of plain data in and out, so a process pool can run it (index loads
    spread the per-person work over every core; SQLite writes stay in one process).
    """
    rows: list[PreparedRow] = []
    errors: list[tuple[int, str]] = []
    for number, line in lines:
        try:
            person = Person.model_validate_json(line)
        except ValueError as exc:
            errors.append((number, validation_error_text(exc)))
            continue
        rows.append(prepare_entry(IndexEntry(record_id=person.person_id, person=person,
                                             mother_record_id=person.mother_person_id)))
    return rows, errors


def validation_error_text(exc: Exception) -> str:
    """Field path, message and rule of each validation error (never the rejected value)."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = []
    found = errors(include_input=False, include_url=False)
    for err in found[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "<line>"
        parts.append(f"field {loc}: {err.get('msg', '')} (rule {err.get('type', '')})")
    if len(found) > 5:
        parts.append(f"and {len(found) - 5} more")
    return "; ".join(parts)


def _pack(keys: list[int]) -> bytes:
    return array("q", keys).tobytes()


def _unpack(blob: bytes) -> list[int]:
    keys = array("q")
    keys.frombytes(blob)
    return keys.tolist()


class MatchIndex:
    """A per-agency candidate-search index in one SQLite file (see the module docstring)."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path
        self._lock = threading.RLock()
        self.max_block = DEFAULT_MAX_BLOCK
        #: m / u of what the referral's listed household says about a candidate (not trained: searches
        #: with a household are where it shows, and review decisions are the labels that could move it).
        self.household_evidence = HouseholdEvidence()
        self._policy = MatchPolicy.model_validate_json(self._meta("policy") or MatchPolicy.default().model_dump_json())
        self._model: MatchModel | None = None
        self._tf: TermFrequencies | None = None
        self._scorer: Scorer | None = None
        # Features stored under another PersonFeatures layout are not decoded: computed from the person.
        self._features_usable = self._meta("features_layout") == FEATURES_LAYOUT

    # ------------------------------------------------------------------ lifecycle

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA temp_store=MEMORY")
        db.execute("PRAGMA cache_size=-131072")  # 128 MB page cache
        return db

    @classmethod
    def create(cls, path: Path, *, policy: MatchPolicy | None = None) -> "MatchIndex":
        """A new, empty index at ``path`` (refused if the file already holds one)."""
        path = Path(path)
        db = cls._connect(path)
        existing = db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='persons'").fetchone()
        if existing is not None:
            db.close()
            raise FileExistsError(f"{path} already holds a match index; open it, or remove the file first")
        db.executescript(_CREATE)
        for statement in _INDEXES:
            db.execute(statement)
        db.execute("INSERT INTO meta(name, value) VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
        db.execute("INSERT INTO meta(name, value) VALUES ('features_layout', ?)", (FEATURES_LAYOUT,))
        db.execute("INSERT INTO meta(name, value) VALUES ('policy', ?)",
                   ((policy or MatchPolicy.default()).model_dump_json(),))
        return cls(db, path)

    @classmethod
    def open(cls, path: Path) -> "MatchIndex":
        """An existing index (``FileNotFoundError`` if there is none, ``NotAnIndex`` if not an index)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no match index at {path}")
        try:
            db = cls._connect(path)
        except sqlite3.DatabaseError as exc:
            raise NotAnIndex(f"{path} is not a match index ({exc})") from None
        try:
            row = db.execute("SELECT value FROM meta WHERE name='schema_version'").fetchone()
        except sqlite3.DatabaseError:
            row = None
        if row is None or row[0] != SCHEMA_VERSION:
            db.close()
            raise NotAnIndex(f"{path} is not a match index of schema version {SCHEMA_VERSION}")
        return cls(db, path)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "MatchIndex":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM persons").fetchone()[0])

    # ------------------------------------------------------------------ meta, model, policy

    def _meta(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, name: str, value: str) -> None:
        self._db.execute("INSERT INTO meta(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value=excluded.value",
                         (name, value))

    @property
    def policy(self) -> MatchPolicy:
        return self._policy

    def set_policy(self, policy: MatchPolicy) -> None:
        """Store a new policy (an agency's thresholds changed in configuration)."""
        with self._lock:
            self._set_meta("policy", policy.model_dump_json())
            self._policy = policy
            self._scorer = None

    @property
    def model(self) -> MatchModel:
        """The trained model, or ``MatchModel.default()`` before ``train()``."""
        if self._model is None:
            stored = self._meta("model")
            self._model = MatchModel.model_validate_json(stored) if stored else MatchModel.default()
        return self._model

    @property
    def term_frequencies(self) -> TermFrequencies | None:
        if self._tf is None:
            stored = self._meta("term_frequencies")
            self._tf = TermFrequencies.from_dict(json.loads(stored)) if stored else None
        return self._tf

    @property
    def trained(self) -> bool:
        return self._meta("model") is not None

    def scorer(self) -> Scorer:
        """The scorer searches use: the stored model, term frequencies and policy."""
        if self._scorer is None:
            self._scorer = Scorer(self.model, self.term_frequencies, self.policy)
        return self._scorer

    # ------------------------------------------------------------------ loading

    def add_many(self, records: Iterable[tuple[str, Person]],
                 *, on_progress: Callable[[int], Any] | None = None, workers: int = 1) -> int:
        """Upsert ``(record_id, person)`` pairs; the person's ``mother_person_id`` is taken as a record id.

        Returns how many entries were written (a record id given twice counts twice; the last wins).
        ``workers`` > 1 computes features and keys in that many processes (see ``add_entries``).
        """
        return self.add_entries(
            (IndexEntry(record_id=rid, person=p, mother_record_id=p.mother_person_id) for rid, p in records),
            on_progress=on_progress, workers=workers)

    def add_entries(self, entries: Iterable[IndexEntry], *, on_progress: Callable[[int], Any] | None = None,
                    workers: int = 1) -> int:
        """Upsert index entries by record id (the general form of ``add_many``).

        With ``workers`` > 1 each entry's person is serialised here and its features, keys and
        household are computed in a pool of that many processes (``prepare_json_entries``), in
        order; SQLite writes stay in this process. Worth it for loads of tens of thousands of
        people; the pool uses the platform's default start method.
        """
        return self.add_prepared(prepare_entries(entries, workers), on_progress=on_progress)

    def add_prepared(self, rows: Iterable[PreparedRow], *, on_progress: Callable[[int], Any] | None = None) -> int:
        """Upsert rows made by :func:`prepare_entry` (possibly in worker processes: ``prepare_person_lines``)."""
        with self._lock:
            if self._is_empty():
                return self._bulk_load(rows, on_progress)
            return self._upsert(rows, on_progress)

    def _is_empty(self) -> bool:
        return self._db.execute("SELECT 1 FROM persons LIMIT 1").fetchone() is None

    def _bulk_load(self, rows: Iterable[PreparedRow], on_progress: Callable[[int], Any] | None) -> int:
        """Into an empty index: no indexes while inserting, one transaction, indexes built at the end."""
        db = self._db
        seen: dict[str, int] = {}
        superseded: list[int] = []
        written = 0
        next_rid = 1
        persons: list[tuple[int, str, str | None, str | None, str, str | None, bytes]] = []
        blocks: list[tuple[int, int]] = []
        # One big transaction through the write-ahead log would write every page twice (log, then
        # checkpoint); into an empty file the rollback journal stays tiny. WAL again afterwards.
        db.execute("PRAGMA journal_mode=DELETE")
        db.execute("BEGIN")
        try:
            for statement in _DROP_INDEXES:
                db.execute(statement)
            for record_id, mother, household, text, feats, keys in rows:
                old = seen.get(record_id)
                if old is not None:
                    superseded.append(old)
                rid = next_rid
                next_rid += 1
                seen[record_id] = rid
                persons.append((rid, record_id, mother, household, text, feats, _pack(keys)))
                blocks.extend((k, rid) for k in keys)
                written += 1
                if len(persons) >= _BATCH:
                    self._flush(persons, blocks)
                    if on_progress is not None:
                        on_progress(written)
            self._flush(persons, blocks)
            if superseded:
                db.execute("CREATE TEMP TABLE superseded (rid INTEGER PRIMARY KEY)")
                db.executemany("INSERT OR IGNORE INTO superseded(rid) VALUES (?)", ((r,) for r in superseded))
                db.execute("DELETE FROM persons WHERE rid IN (SELECT rid FROM superseded)")
                db.execute("DELETE FROM blocks WHERE rid IN (SELECT rid FROM superseded)")
                db.execute("DROP TABLE superseded")
            for statement in _INDEXES:
                db.execute(statement)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            for statement in _INDEXES:
                db.execute(statement)
            raise
        finally:
            db.execute("PRAGMA journal_mode=WAL")
        db.execute("ANALYZE")
        if on_progress is not None:
            on_progress(written)
        log.info("match_index_bulk_loaded", path=str(self.path), written=written, superseded=len(superseded))
        return written

    def _flush(self, persons: list[tuple[int, str, str | None, str | None, str, str | None, bytes]],
               blocks: list[tuple[int, int]]) -> None:
        if persons:
            self._db.executemany(
                "INSERT INTO persons(rid, record_id, mother_record_id, household, person, features, keys) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", persons)
        if blocks:
            self._db.executemany("INSERT INTO blocks(key, rid) VALUES (?, ?)", blocks)
        persons.clear()
        blocks.clear()

    def _delete_rid(self, rid: int, keys: bytes) -> None:
        """A row and exactly the keys stored with it (not recomputed: blocking may have changed since)."""
        self._db.executemany("DELETE FROM blocks WHERE key=? AND rid=?", ((k, rid) for k in _unpack(keys)))
        self._db.execute("DELETE FROM persons WHERE rid=?", (rid,))

    def _upsert(self, rows: Iterable[PreparedRow], on_progress: Callable[[int], Any] | None) -> int:
        """Into a populated index: each record id's old row and keys go, the new ones come in."""
        db = self._db
        written = 0
        db.execute("BEGIN")
        try:
            for record_id, mother, household, text, feats, keys in rows:
                old = db.execute("SELECT rid, keys FROM persons WHERE record_id=?", (record_id,)).fetchone()
                if old is not None:
                    self._delete_rid(int(old[0]), old[1])
                cursor = db.execute(
                    "INSERT INTO persons(record_id, mother_record_id, household, person, features, keys) "
                    "VALUES (?, ?, ?, ?, ?, ?)", (record_id, mother, household, text, feats, _pack(keys)))
                rid = int(cursor.lastrowid or 0)
                db.executemany("INSERT INTO blocks(key, rid) VALUES (?, ?)", ((k, rid) for k in keys))
                written += 1
                if on_progress is not None and written % _BATCH == 0:
                    on_progress(written)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        log.info("match_index_upserted", path=str(self.path), written=written)
        return written

    def remove(self, record_ids: Iterable[str]) -> int:
        """Remove records by record id (a person no longer in the agency's export); returns how many went."""
        removed = 0
        with self._lock:
            db = self._db
            db.execute("BEGIN")
            try:
                for record_id in record_ids:
                    row = db.execute("SELECT rid, keys FROM persons WHERE record_id=?", (record_id,)).fetchone()
                    if row is None:
                        continue
                    self._delete_rid(int(row[0]), row[1])
                    removed += 1
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return removed

    def get(self, record_id: str) -> Person | None:
        """The stored person of a record id."""
        with self._lock:
            row = self._db.execute("SELECT person FROM persons WHERE record_id=?", (record_id,)).fetchone()
        return None if row is None else _load_person(row[0])

    def record_ids(self) -> Iterator[str]:
        with self._lock:
            rows = self._db.execute("SELECT record_id FROM persons ORDER BY rid").fetchall()
        return (r[0] for r in rows)

    # ------------------------------------------------------------------ blocking

    def _rids_for_keys(self, keys: Iterable[BlockKey], result: CandidateSet) -> dict[int, set[str]]:
        """Every rid sharing a key with the subject; big blocks skipped only under the documented rule."""
        db = self._db
        found: dict[int, set[str]] = {}
        limit = self.max_block + 1
        big: list[BlockKey] = []
        read_in_full: set[BlockPass] = set()
        for key in keys:
            rows = db.execute("SELECT rid FROM blocks WHERE key=? LIMIT ?", (key.value, limit)).fetchall()
            if len(rows) > self.max_block:
                big.append(key)  # size probe only: decided below, never truncated
                continue
            result.keys_read += 1
            read_in_full.add(key.block_pass)
            for (rid,) in rows:
                found.setdefault(rid, set()).add(key.block_pass.value)
        for key in big:
            selective = MORE_SELECTIVE.get(key.block_pass, ())
            if any(p in read_in_full for p in selective):
                result.keys_skipped.append(key.block_pass.value)
                continue
            result.big_blocks_read += 1
            result.keys_read += 1
            for (rid,) in db.execute("SELECT rid FROM blocks WHERE key=?", (key.value,)):
                found.setdefault(rid, set()).add(key.block_pass.value)
        return found

    def _features(self, features_text: str | None, person_text: str) -> PersonFeatures:
        stored = decode_features(features_text) if self._features_usable else None
        return stored if stored is not None else features(_load_person(person_text))

    def _record_ids(self, rids: Iterable[int]) -> list[str]:
        ordered = sorted(set(rids))
        out: list[str] = []
        for start in range(0, len(ordered), _IN_CHUNK):
            chunk = ordered[start:start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            out.extend(r[0] for r in self._db.execute(f"SELECT record_id FROM persons WHERE rid IN ({marks})", chunk))
        return out

    def _load(self, rids: Iterable[int]) -> dict[int, tuple[str, str | None, str | None, str | None, str]]:
        """rid -> (record_id, mother_record_id, household, features JSON, person JSON)."""
        rows: dict[int, tuple[str, str | None, str | None, str | None, str]] = {}
        ordered = sorted(set(rids))
        for start in range(0, len(ordered), _IN_CHUNK):
            chunk = ordered[start:start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            for rid, record_id, mother, household, feats, text in self._db.execute(
                    "SELECT rid, record_id, mother_record_id, household, features, person FROM persons "
                    f"WHERE rid IN ({marks})", chunk):
                rows[int(rid)] = (record_id, mother, household, feats, text)
        return rows

    def _candidates_for(self, found: dict[int, set[str]], into: CandidateSet) -> None:
        missing = [rid for rid in found if rid not in into.candidates]
        for rid, (record_id, mother, household, feats, text) in self._load(missing).items():
            into.candidates[rid] = Candidate(rid, record_id, self._features(feats, text), mother, household,
                                             frozenset(found[rid]), text)

    @staticmethod
    def _sorted_keys(keys: Iterable[BlockKey]) -> list[BlockKey]:
        return sorted(keys, key=lambda k: (k.block_pass, k.text))

    def candidates(self, subject: Person, *, mother_record_ids: Iterable[str] = ()) -> CandidateSet:
        """Everything blocking finds for ``subject`` (unscored).

        ``mother_record_ids``: records believed to be the subject's mother; their children are
        added (the ``mother`` pass). ``search`` finds these by searching for the mother first.
        """
        with self._lock:
            result = CandidateSet()
            keys, _household = blocking_profile(features(subject), subject=True)
            keys.update(mother_key(m) for m in mother_record_ids)
            self._candidates_for(self._rids_for_keys(self._sorted_keys(keys), result), result)
            return result

    # ------------------------------------------------------------------ search

    def _mother_features(self, candidate: Candidate, cache: dict[str, PersonFeatures | None]
                         ) -> PersonFeatures | None:
        mother = candidate.mother_record_id
        if mother is None:
            return None
        if mother not in cache:
            row = self._db.execute("SELECT features, person FROM persons WHERE record_id=?", (mother,)).fetchone()
            cache[mother] = None if row is None else self._features(row[0], row[1])
        return cache[mother]

    def _score_all(self, subject: PersonFeatures, mother: PersonFeatures | None, candidates: Iterable[Candidate],
                   mothers: dict[str, PersonFeatures | None],
                   memo: dict[tuple[ComparisonVector, ComparisonDetail], ScoredPair]
                   ) -> list[tuple[Candidate, ScoredPair]]:
        """Every candidate scored. Pairs with the same comparison (vector and agreeing values) get the
        same score, so each distinct comparison is scored once per search (``memo``)."""
        scorer = self.scorer()
        scored = []
        for candidate in candidates:
            record_mother = (self._mother_features(candidate, mothers)
                             if (subject.unborn or candidate.features.unborn) else None)
            vector, detail = compare_features(subject, candidate.features, mother, record_mother)
            key = (vector, detail)
            pair = memo.get(key)
            if pair is None:
                pair = memo[key] = scorer.score_vector(vector, detail)
            scored.append((candidate, pair))
        return scored

    def _mother_record_ids(self, mother: PersonFeatures) -> list[str]:
        """Every record blocking finds for the subject's mother: their children become candidates.

        Not only her good matches: a mother referred by a nickname and a surname the agency has
        not recorded scores low herself, yet her unborn child is the one sought. The scorer
        compares the mothers again for each child (``unborn_mother``), so the children of women
        who merely share her date of birth score as different people.
        """
        found: dict[int, set[str]] = self._rids_for_keys(
            self._sorted_keys(blocking_profile(mother, subject=True)[0]), CandidateSet())
        return sorted(self._record_ids(found))

    def _household_rids(self, scored: Sequence[tuple[Candidate, ScoredPair]], result: CandidateSet
                        ) -> dict[int, set[str]]:
        """Other members of the households of the candidates worth showing (twins, siblings, parents)."""
        found: dict[int, set[str]] = {}
        for candidate, pair in scored:
            if pair.decision is MatchDecision.NO_MATCH:
                continue
            if candidate.household is not None:
                for (rid,) in self._db.execute("SELECT rid FROM persons WHERE household=?", (candidate.household,)):
                    found.setdefault(int(rid), set()).add("household")
            if candidate.mother_record_id is not None:
                for (rid,) in self._db.execute("SELECT rid FROM blocks WHERE key=?",
                                               (mother_key(candidate.mother_record_id).value,)):
                    found.setdefault(int(rid), set()).add("household")
        return {rid: passes for rid, passes in found.items() if rid not in result.candidates}

    def search(self, subject: Person, *, mother: Person | None = None,
               others: Sequence[Person] = ()) -> SearchOutcome:
        """Find ``subject`` in this index: every blocked candidate scored, households added, then ``decide``.

        ``mother``: the subject's mother as the referral gives her; an unborn subject is found
        through her (her records in this index, then the children linked to them).
        ``others``: the referral's other people (its other subjects and household, as the enquiry
        lists them). Each is scored against the records worth considering for the subject, so a
        record that is plainly the co-twin or sibling named on the same referral is neither shown
        nor a rival, and one two people on the referral could be goes to a person (``decide``).
        """
        return self.search_with_candidates(subject, mother=mother, others=others)[0]

    def _pair(self, person: PersonFeatures, record: PersonFeatures,
              memo: dict[tuple[ComparisonVector, ComparisonDetail], ScoredPair]) -> ScoredPair:
        vector, detail = compare_features(person, record, None, None)
        key = (vector, detail)
        pair = memo.get(key)
        if pair is None:
            pair = memo[key] = self.scorer().score_vector(vector, detail)
        return pair

    def _others_pairs(self, people: Sequence[PersonFeatures], considered_: Sequence[Candidate],
                      memo: dict[tuple[ComparisonVector, ComparisonDetail], ScoredPair]
                      ) -> dict[str, list[ScoredPair]]:
        """Per considered record, the referral's other people scored against it (born records only:
        an unborn record is compared through mothers, which the others are not searched for)."""
        out: dict[str, list[ScoredPair]] = {}  # the k-th pair of every record is the k-th person's
        for candidate in considered_:
            if not candidate.features.unborn:
                out[candidate.record_id] = [self._pair(person, candidate.features, memo) for person in people]
        return out

    def _mates(self, candidate: Candidate, found: CandidateSet,
               at_address: dict[str, list[tuple[int, PersonFeatures]]]) -> list[PersonFeatures]:
        """Who lives with the record, as far as this index knows: everyone at its current address (any
        family name: a mother who kept hers, a step-parent), and its mother and her other children.

        The address is the household key's address part (the postcode unit, else a UPRN). An address
        shared by more than ``MAX_ADDRESS_MATES`` records (a block of flats without UPRNs) is too
        wide to say who lives together: then only the same address *and* family name count.
        ``at_address`` caches, per household key, who the index holds there (siblings share it).
        Unborn records are left out: they are compared through their mothers.
        """
        mother = candidate.mother_record_id
        out = [m.features for m in found.candidates.values() if m.rid != candidate.rid and (
            (mother is not None and (m.mother_record_id == mother or m.record_id == mother))
            or m.mother_record_id == candidate.record_id)]
        key = candidate.household
        if key is not None:
            if key not in at_address:
                at_address[key] = self._at_address(key, found)
            seen = {id(f) for f in out}
            out += [f for rid, f in at_address[key] if rid != candidate.rid and id(f) not in seen]
        return [f for f in out if not f.unborn]

    def _at_address(self, key: str, found: CandidateSet) -> list[tuple[int, PersonFeatures]]:
        """(rid, features) of everyone the index holds at household key ``key``'s address (see ``_mates``)."""
        address = key[: key.index("|") + 1]
        rids = [int(r) for (r,) in self._db.execute(
            "SELECT rid FROM persons WHERE household >= ? AND household < ? LIMIT ?",
            (address, address[:-1] + "}", MAX_ADDRESS_MATES + 1))]
        if len(rids) > MAX_ADDRESS_MATES:
            rids = [int(r) for (r,) in self._db.execute("SELECT rid FROM persons WHERE household = ?", (key,))]
        have = {m.rid: m.features for m in found.candidates.values()}
        loaded = {rid: self._features(feats, text)
                  for rid, (_r, _m, _h, feats, text) in self._load([r for r in rids if r not in have]).items()}
        return [(rid, have.get(rid) or loaded[rid]) for rid in rids if rid in have or rid in loaded]

    def _with_household(self, kept: list[tuple[Candidate, ScoredPair]], people: Sequence[PersonFeatures],
                        found: CandidateSet, memo: dict[tuple[ComparisonVector, ComparisonDetail], ScoredPair]
                        ) -> list[tuple[Candidate, ScoredPair]]:
        """Candidate-level pairs with the ``household`` evidence (``matching.household_evidence``)."""
        out = []
        at_address: dict[str, list[tuple[int, PersonFeatures]]] = {}
        for candidate, pair in kept:
            if weighs_on(pair) and not candidate.features.unborn:
                comparisons = (self._pair(person, mate, memo)
                               for mate in self._mates(candidate, found, at_address) for person in people)
                level = household_level(comparisons, self.household_evidence.fits_at)
                pair = with_household(pair, level, self.household_evidence)
            out.append((candidate, pair))
        return out

    def search_with_candidates(self, subject: Person, *, mother: Person | None = None,
                               others: Sequence[Person] = ()) -> tuple[SearchOutcome, CandidateSet]:
        """``search``, also returning what blocking found (for diagnostics and benchmarks)."""
        subject_f = features(subject)
        mother_f = features(mother) if mother is not None else None
        with self._lock:
            mother_ids = self._mother_record_ids(mother_f) if mother_f is not None else []
            result = CandidateSet()
            keys, _household = blocking_profile(subject_f, subject=True)
            keys.update(mother_key(m) for m in mother_ids)
            self._candidates_for(self._rids_for_keys(self._sorted_keys(keys), result), result)
            mothers: dict[str, PersonFeatures | None] = {}
            memo: dict[tuple[ComparisonVector, ComparisonDetail], ScoredPair] = {}
            scored = self._score_all(subject_f, mother_f, result.candidates.values(), mothers, memo)
            extra = self._household_rids(scored, result)
            if extra:
                before = set(result.candidates)
                self._candidates_for(extra, result)
                added = [c for rid, c in result.candidates.items() if rid not in before]
                scored.extend(self._score_all(subject_f, mother_f, added, mothers, memo))
            # decide() sets aside pairs below review or vetoed to no match (bar a few it still weighs, and
            # those the household may bring into view): only the rest need their Person.
            people = [features(o) for o in others
                      if o is not subject and o.person_id != subject.person_id and not o.unborn]
            kept = [(c, pair) for c, pair in scored if considered(pair, self.policy)]
            if people and not subject_f.unborn:
                # A record just under review is weighed too if a corroborating household could bring it to
                # review_household; it is passed on only if the household was weighed on it.
                extra = [(c, pair) for c, pair in scored if not considered(pair, self.policy)
                         and could_be_shown(pair, self.policy.review_household, self.household_evidence)]
                weighed = self._with_household([*kept, *extra], people, result, memo)
                kept = [*weighed[:len(kept)], *((c, p) for c, p in weighed[len(kept):] if "household" in p.levels)]
            shown = [
                ScoredCandidate(record_id=c.record_id, person=c.person, pair=pair,
                                household_id=c.household or (f"mother={c.mother_record_id}"
                                                             if c.mother_record_id else None))
                for c, pair in kept
            ]
            claims = self._others_pairs(people, [c for c, _ in kept], memo) \
                if people and not subject_f.unborn else None
            outcome = decide(subject, shown, self.policy, others=claims)
            return outcome, result

    # ------------------------------------------------------------------ training

    def _sample_rids(self, n: int, rng: random.Random) -> list[int]:
        top = self._db.execute("SELECT max(rid) FROM persons").fetchone()[0]
        if not top:
            return []
        total = len(self)
        if total <= n:
            return [int(r[0]) for r in self._db.execute("SELECT rid FROM persons")]
        picks: set[int] = set()
        for _ in range(20):  # rids have gaps after removals: draw until enough exist
            picks.update(rng.randint(1, int(top)) for _ in range(n - len(picks)))
            present = {int(r) for r in self._load(picks)}
            picks = present
            if len(picks) >= n:
                break
        return sorted(picks)

    def training_vectors(self, *, sample_records: int = 1000, max_pairs_per_record: int = 50,
                         seed: int = 0) -> list[ComparisonVector]:
        """Comparison vectors of blocked pairs for EM: each sampled record against what blocking finds for it.

        Bounded: ``sample_records`` records, at most ``max_pairs_per_record`` pairs each (a random
        subset of a big block: this is training data, not a search, so sampling loses nothing).
        """
        rng = random.Random(seed)
        vectors: list[ComparisonVector] = []
        with self._lock:
            sample = CandidateSet()
            self._candidates_for({rid: set() for rid in self._sample_rids(sample_records, rng)}, sample)
            pool = CandidateSet()
            for rid, record in sorted(sample.candidates.items()):
                keys, _household = blocking_profile(record.features, mother_record_id=record.mother_record_id)
                others = sorted(set(self._rids_for_keys(self._sorted_keys(keys), CandidateSet())) - {rid})
                if len(others) > max_pairs_per_record:
                    others = rng.sample(others, max_pairs_per_record)
                self._candidates_for({o: set() for o in others}, pool)
                vectors.extend(compare_features(record.features, pool.candidates[o].features)[0]
                               for o in others if o in pool.candidates)
        return vectors

    def random_pair_vectors(self, pairs: int = 20000, *, seed: int = 0) -> list[ComparisonVector]:
        """Comparison vectors of random pairs: nearly all different people, so their levels measure ``u``."""
        rng = random.Random(seed)
        with self._lock:
            drawn = CandidateSet()
            self._candidates_for({rid: set() for rid in self._sample_rids(min(2 * pairs, 20000), rng)}, drawn)
        people = [drawn.candidates[rid].features for rid in sorted(drawn.candidates)]
        if len(people) < 2:
            return []
        vectors = []
        for _ in range(pairs):
            a, b = rng.sample(range(len(people)), 2)
            vectors.append(compare_features(people[a], people[b])[0])
        return vectors

    def _features_sample(self, limit: int | None) -> Iterator[PersonFeatures]:
        query = "SELECT features, person FROM persons" + (f" LIMIT {int(limit)}" if limit else "")
        for feats, text in self._db.execute(query).fetchall():
            yield self._features(feats, text)

    def train(self, *, sample_records: int = 1000, max_pairs_per_record: int = 50, random_pairs: int = 20000,
              seed: int = 0, max_iterations: int = 25, term_frequency_sample: int | None = 200_000) -> MatchModel:
        """Learn this agency's weights and store them with its term frequencies.

        1. Term frequencies of given names, family names and postcodes, from up to
           ``term_frequency_sample`` people (``None``: everyone); relative frequencies settle long before.
        2. ``u`` (how often each level occurs between *different* people) from random pairs, which are
           almost all different people: reliable on any agency's data.
        3. The prior: one in N (the index's size), the chance that two random records are the same
           person, because ``u`` is measured over random pairs (Splink's "probability two random
           records match"). A prior over blocked pairs with random-pair ``u`` would overstate every
           agreement (measured: fewer automatic matches and a wrong one on a 200,000-person index).
        4. ``m`` by expectation maximisation over blocked pairs, with ``u`` fixed. An
           agency index rarely holds many duplicate records, so EM may have no matches to learn from
           and would then fit ``m`` to siblings and neighbours (same family name and address,
           different given name and date of birth). Its ``m`` is only kept when it is plausible
           (``_plausible_m``: enough expected matches, and agreement more likely than disagreement
           among matches for given name, family name and date of birth); otherwise the default
           ``m`` stays, with this agency's ``u``. Confirmed review decisions are the labelled
           matches that will improve ``m`` further.

        An index of fewer than ``MIN_TRAINING_PEOPLE`` people keeps the default weights (random pairs
        of a handful of people say nothing about a population); term frequencies are still counted.
        Always starts from ``MatchModel.default()``, so training twice on the same data gives the same model.
        """
        start = MatchModel.default()
        with self._lock:
            tf = TermFrequencies.from_features(self._features_sample(term_frequency_sample))
            enough = len(self) >= MIN_TRAINING_PEOPLE
            random_vectors = self.random_pair_vectors(random_pairs, seed=seed) if enough else []
            model = estimate_u(random_vectors, start) if random_vectors else start
            vectors = self.training_vectors(sample_records=sample_records,
                                            max_pairs_per_record=max_pairs_per_record, seed=seed) if enough else []
            em = train_em(vectors, model, max_iterations=max_iterations, fixed_u=True) if vectors else None
            em_kept = em is not None and _plausible_m(em, len(vectors))
            if em is not None and em_kept:
                model = em
            update: dict[str, Any] = {"trained_on": len(vectors) + len(random_vectors)}
            if random_vectors:
                # u was measured over random pairs, so the prior must be over random pairs too: a
                # subject is at most one of the N people. Blocking then only chooses which pairs are
                # scored; it does not change P(match | comparison), so probabilities stay calibrated.
                update["prior"] = min(max(1.0 / max(len(self), 1), 1e-9), 0.5)
            model = model.model_copy(update=update)
            report = {"random_pairs": len(random_vectors), "blocked_pairs": len(vectors), "em_m_kept": em_kept,
                      "term_frequency_people": tf.total("family")}
            self._set_meta("term_frequencies", json.dumps(tf.to_dict()))
            self._set_meta("model", model.model_dump_json())
            self._set_meta("training", json.dumps(report))
            self._model, self._tf, self._scorer = model, tf, None
            log.info("match_index_trained", path=str(self.path), **report)
            return model

    def train_from_labels(self, labels: Iterable[ReviewLabel]) -> LabelReport:
        """Move this index's weights with people's review decisions (see ``matching.labels``).

        Starts from the stored model (so run it after ``train()``, which starts afresh) and keeps
        the prior; the counts are added to the training report under ``labels``.
        """
        vectors, report = label_vectors(labels, self.get)
        if not vectors:
            raise ValueError("no label names a record in this index: " + "; ".join(report.unknown_records[:5]))
        with self._lock:
            model = train_from_labels(vectors, self.model)
            training = json.loads(self._meta("training") or "{}")
            previous = training.get("labels", {"confirmed": 0, "rejected": 0})
            training["labels"] = {"confirmed": previous["confirmed"] + report.confirmed,
                                  "rejected": previous["rejected"] + report.rejected}
            self._set_meta("model", model.model_dump_json())
            self._set_meta("training", json.dumps(training))
            self._model, self._scorer = model, None
            log.info("match_index_labels_applied", path=str(self.path), confirmed=report.confirmed,
                     rejected=report.rejected, unknown=len(report.unknown_records))
        return report

    def training_report(self) -> dict[str, Any] | None:
        """What the last ``train()`` used and whether EM's ``m`` was kept."""
        with self._lock:
            stored = self._meta("training")
        return None if stored is None else dict(json.loads(stored))


#: More records than this at one postcode (and no UPRN) is too wide a net to say who lives with whom.
MAX_ADDRESS_MATES = 60

#: Below this many people ``train()`` keeps the default weights.
MIN_TRAINING_PEOPLE = 1000

#: EM's m is kept only when it expects at least this many matches among the blocked pairs.
MIN_EXPECTED_MATCHES = 30


def _plausible_m(model: MatchModel, pairs: int) -> bool:
    """EM found real matches, not households: enough of them, and they agree on who they are."""
    if model.prior * pairs < MIN_EXPECTED_MATCHES:
        return False
    for field, best in (("given", "exact"), ("family", "exact"), ("dob", "exact")):
        levels = model.fields[field]
        if levels[best].m <= levels["different"].m:
            return False
    return True
