"""The health connector's durable local state: who is watched, which Tasks are open.

Two small tables in one SQLite file in the state directory, so a restarted
connector process still alerts on the children it was asked about and still
collects the Tasks it created:

* ``watch``: one row per trusted identifier of each subject of an enquiry
  this connector received (NHS number, hospital number), with the hub's
  person id, referral and enquiry. Rows go when the hub's outcome or
  decision for that referral arrives on the agency's events queue.
* ``tasks``: enquiries delivered as FHIR Tasks (Model 3) and not yet
  answered: the enquiry itself (to collect the Task outputs against its
  subjects) and the highest answer sequence already published.

Only identifiers whose check passed are stored: an NHS number failing
modulus 11 must never make another child's attendance look like a match.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from .adt import WatchedSubject
from ..files import SqliteState, StateSchema
from ...schemas.enquiry import Enquiry
from ...schemas.identifiers import Identifier

_SCHEMA = StateSchema(version=1, create=(
    """CREATE TABLE IF NOT EXISTS watch (
        system TEXT NOT NULL, scope TEXT NOT NULL, value TEXT NOT NULL,
        person_ref TEXT NOT NULL, referral_id TEXT NOT NULL, enquiry_id TEXT NOT NULL,
        reason TEXT NOT NULL, added_at TEXT NOT NULL,
        PRIMARY KEY (system, scope, value, enquiry_id, person_ref))""",
    "CREATE INDEX IF NOT EXISTS watch_referral ON watch (referral_id)",
    """CREATE TABLE IF NOT EXISTS tasks (
        enquiry_id TEXT PRIMARY KEY, referral_id TEXT NOT NULL, enquiry TEXT NOT NULL,
        task_ids TEXT NOT NULL, delivered_at TEXT NOT NULL,
        answered_sequence INTEGER NOT NULL DEFAULT 0, closed_reason TEXT)""",
    "CREATE INDEX IF NOT EXISTS tasks_referral ON tasks (referral_id)",
))


class HealthState(SqliteState):
    """SQLite-backed (:class:`~connectors.files.SqliteState`); safe from several threads."""

    schema = _SCHEMA

    # ---- watch list ------------------------------------------------------------
    def watch_enquiry(self, enquiry: Enquiry) -> int:
        """Watch every subject of ``enquiry`` by its trusted identifiers; returns rows added (idempotent)."""
        now = datetime.now(UTC).isoformat()
        rows = [
            (ident.system.value, ident.key[1] or "", ident.value, subject.person_id, enquiry.referral_id,
             enquiry.enquiry_id, "open_enquiry", now)
            for subject in enquiry.subjects for ident in subject.identifiers if ident.trusted
        ]
        if not rows:
            return 0
        with self._lock, self._conn() as conn:
            before = conn.total_changes
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT OR IGNORE INTO watch VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
            return conn.total_changes - before

    def forget_referral(self, referral_id: str) -> int:
        """Stop watching the subjects of a referral (its outcome is known); returns rows removed."""
        with self._lock, self._conn() as conn:
            return conn.execute("DELETE FROM watch WHERE referral_id = ?", (referral_id,)).rowcount

    def lookup(self, identifiers: Sequence[Identifier]) -> list[WatchedSubject]:
        """``WatchList.lookup``: watched subjects sharing a trusted identifier."""
        found: list[WatchedSubject] = []
        with self._conn() as conn:
            for ident in identifiers:
                if not ident.trusted:
                    continue
                for person_ref, referral_id, enquiry_id, reason in conn.execute(
                    "SELECT person_ref, referral_id, enquiry_id, reason FROM watch"
                    " WHERE system = ? AND scope = ? AND value = ? ORDER BY added_at",
                    (ident.system.value, ident.key[1] or "", ident.value),
                ):
                    subject = WatchedSubject(person_ref=person_ref, reason=reason,  # type: ignore[arg-type]
                                             referral_id=referral_id, enquiry_id=enquiry_id)
                    if subject not in found:
                        found.append(subject)
        return found

    def watched_count(self) -> int:
        with self._conn() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM watch").fetchone()[0])

    # ---- Model 3 tasks -----------------------------------------------------------
    def remember_tasks(self, enquiry: Enquiry, task_ids: Sequence[str]) -> None:
        """Record delivered Tasks (a redelivered enquiry keeps its first record and progress)."""
        with self._lock, self._conn() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO tasks (enquiry_id, referral_id, enquiry, task_ids, delivered_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (enquiry.enquiry_id, enquiry.referral_id, enquiry.model_dump_json(), ",".join(task_ids),
                 datetime.now(UTC).isoformat()),
            )

    def open_tasks(self) -> list[tuple[Enquiry, int]]:
        """Enquiries whose Tasks are not yet answered, with the last published answer sequence."""
        with self._conn() as conn:
            rows = conn.execute("SELECT enquiry, answered_sequence FROM tasks WHERE closed_reason IS NULL"
                                " ORDER BY delivered_at").fetchall()
        return [(Enquiry.model_validate_json(text), int(seq)) for text, seq in rows]

    def mark_answered(self, enquiry_id: str, sequence: int, *, final: bool) -> None:
        with self._lock, self._conn() as conn:
            conn.execute(
                "UPDATE tasks SET answered_sequence = MAX(answered_sequence, ?),"
                " closed_reason = CASE WHEN ? THEN 'answered' ELSE closed_reason END WHERE enquiry_id = ?",
                (sequence, 1 if final else 0, enquiry_id),
            )

    def close_referral_tasks(self, referral_id: str, reason: str) -> list[Enquiry]:
        """Stop polling a referral's Tasks (decided elsewhere); returns the enquiries closed."""
        with self._lock, self._conn() as conn:
            conn.execute("BEGIN IMMEDIATE")
            rows = conn.execute("SELECT enquiry FROM tasks WHERE referral_id = ? AND closed_reason IS NULL",
                                (referral_id,)).fetchall()
            conn.execute("UPDATE tasks SET closed_reason = ? WHERE referral_id = ? AND closed_reason IS NULL",
                         (reason, referral_id))
            conn.execute("COMMIT")
        return [Enquiry.model_validate_json(r[0]) for r in rows]

    def task_record(self, enquiry_id: str) -> tuple[int, str | None] | None:
        """(answered_sequence, closed_reason) of one enquiry's Tasks, or None."""
        with self._conn() as conn:
            row = conn.execute("SELECT answered_sequence, closed_reason FROM tasks WHERE enquiry_id = ?",
                               (enquiry_id,)).fetchone()
        return (int(row[0]), row[1]) if row else None
