"""The events consumer's durable memory: which events reached the agency's tool, and which were acknowledged.

One SQLite table in the state directory, one row per event message id:

* ``delivered`` / ``acknowledged`` rows make a redelivered event one effect:
  it is not sent again, only its receipt is re-published (same receipt id);
* ``delivered`` rows are what the acknowledgement scan looks at (a file
  moved to ``processed/``, a FHIR Task completed), a page at a time in
  ``(updated_at, message_id)`` order from a cursor that wraps round
  (:meth:`EventStore.awaiting_acknowledgement`), so every delivered event is
  reached however many are waiting;
* ``failed`` rows record the last failure; a replayed event is tried again.

The row is written (synchronous=FULL) before the event is acknowledged on
the broker, so a crash between sending and acking re-sends nothing.
Rows hold ids, codes and the channel's reference (a file name, a Task id),
never message text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ..files import SqliteState, StateSchema

_SCHEMA = StateSchema(version=1, create=(
    """CREATE TABLE IF NOT EXISTS events (
        message_id TEXT PRIMARY KEY, kind TEXT NOT NULL, referral_id TEXT NOT NULL, outcome_id TEXT,
        channel TEXT NOT NULL, status TEXT NOT NULL, ref TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '',
        attempts INTEGER NOT NULL DEFAULT 0, updated_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS events_status ON events (status)",
))
DONE = ("delivered", "acknowledged")


@dataclass(frozen=True)
class StoredEvent:
    message_id: str
    kind: str
    referral_id: str
    outcome_id: str | None
    channel: str
    status: str
    ref: str
    detail: str
    attempts: int
    updated_at: str = ""

    @property
    def position(self) -> tuple[str, str]:
        """Where this row sits in the acknowledgement scan's order."""
        return (self.updated_at, self.message_id)


_COLUMNS = "message_id, kind, referral_id, outcome_id, channel, status, ref, detail, attempts, updated_at"


class EventStore(SqliteState):
    """One table, ``events``, in its own SQLite file (:class:`~connectors.files.SqliteState`)."""

    schema = _SCHEMA

    def get(self, message_id: str) -> StoredEvent | None:
        with self._conn() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM events WHERE message_id = ?", (message_id,)).fetchone()
        return StoredEvent(*row) if row else None

    def record(self, *, message_id: str, kind: str, referral_id: str, outcome_id: str | None, channel: str,
               status: str, ref: str = "", detail: str = "", attempts: int = 0) -> None:
        """Insert or replace the event's row (a later status wins, except that acknowledged is never undone)."""
        now = datetime.now(UTC).isoformat()
        with self._lock, self._conn() as conn:
            conn.execute(
                "INSERT INTO events (message_id, kind, referral_id, outcome_id, channel, status, ref, detail,"
                " attempts, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(message_id) DO UPDATE SET status = CASE WHEN events.status = 'acknowledged'"
                " THEN events.status ELSE excluded.status END, ref = excluded.ref, detail = excluded.detail,"
                " channel = excluded.channel, attempts = excluded.attempts, updated_at = excluded.updated_at",
                (message_id, kind, referral_id, outcome_id, channel, status, ref, detail[:500], attempts, now),
            )

    def mark_acknowledged(self, message_id: str, detail: str) -> None:
        with self._lock, self._conn() as conn:
            conn.execute("UPDATE events SET status = 'acknowledged', detail = ?, updated_at = ?"
                         " WHERE message_id = ?", (detail[:500], datetime.now(UTC).isoformat(), message_id))

    def awaiting_acknowledgement(self, limit: int = 500, after: tuple[str, str] | None = None,
                                 channel: str | None = None) -> list[StoredEvent]:
        """Up to ``limit`` delivered rows after ``after`` (a row's :attr:`~StoredEvent.position`), oldest first.

        Why a cursor: a scan pass is capped (for FHIR each row is one GET), and
        rows not yet acknowledged keep their place, so reading "the oldest
        ``limit``" every pass would never reach the rest. When fewer than
        ``limit`` rows lie after the cursor, the page continues from the
        start (the scan wraps round); no row appears twice in one page.
        """
        where = "status = 'delivered'" + (" AND channel = ?" if channel is not None else "")
        base: tuple[object, ...] = (channel,) if channel is not None else ()
        with self._conn() as conn:
            if after is None:
                rows = conn.execute(f"SELECT {_COLUMNS} FROM events WHERE {where}"
                                    " ORDER BY updated_at, message_id LIMIT ?", (*base, limit)).fetchall()
            else:
                rows = conn.execute(f"SELECT {_COLUMNS} FROM events WHERE {where}"
                                    " AND (updated_at, message_id) > (?, ?) ORDER BY updated_at, message_id LIMIT ?",
                                    (*base, after[0], after[1], limit)).fetchall()
                if len(rows) < limit:
                    rows += conn.execute(f"SELECT {_COLUMNS} FROM events WHERE {where}"
                                         " AND (updated_at, message_id) <= (?, ?)"
                                         " ORDER BY updated_at, message_id LIMIT ?",
                                         (*base, after[0], after[1], limit - len(rows))).fetchall()
        return [StoredEvent(*r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._conn() as conn:
            return {status: int(n) for status, n in
                    conn.execute("SELECT status, COUNT(*) FROM events GROUP BY status")}
