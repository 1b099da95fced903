"""Enquiries delivered into an agency's tool and not yet fully answered (durable).

Answers arrive minutes or days after ``handle()`` returned, possibly after a
connector restart, so what an answer needs (referral id, RAG, due time) and
which answers were already published are kept in a small SQLite file, not in
memory. It also lets the connector refuse an answer to an enquiry it never
delivered: a tool cannot answer for an enquiry that was not sent to it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pydantic import AwareDatetime, BaseModel

from ...schemas.codes import AgencyKind, Rag
from ...schemas.enquiry import Enquiry
from ..files import SqliteState, StateSchema

#: Version 1 is the table as it was before versioning, so an existing file is adopted unchanged.
_SCHEMA = StateSchema(version=1, create=(
    """CREATE TABLE IF NOT EXISTS pending (
        enquiry_id TEXT PRIMARY KEY,
        agency_id TEXT NOT NULL,
        agency_kind TEXT NOT NULL,
        referral_id TEXT NOT NULL,
        rag TEXT NOT NULL,
        due_at TEXT NOT NULL,
        delivered_at TEXT NOT NULL,
        channel TEXT NOT NULL,
        answered TEXT NOT NULL DEFAULT '{}'
    )""",
))


class PendingEnquiry(BaseModel):
    enquiry_id: str
    agency_id: str
    agency_kind: AgencyKind
    referral_id: str
    rag: Rag
    due_at: AwareDatetime
    delivered_at: AwareDatetime
    channel: str
    answered: dict[str, str] = {}  # agency answer sequence -> response id

    def answered_response(self, sequence: int) -> str | None:
        return self.answered.get(str(sequence))


class PendingStore(SqliteState):
    """One table, ``pending``, in its own SQLite file (:class:`~connectors.files.SqliteState`: WAL, fsynced commits,
    schema versioned, safe from several threads)."""

    schema = _SCHEMA

    def remember(self, enquiry: Enquiry, channel: str) -> PendingEnquiry:
        """Record a delivery (idempotent: a redelivered enquiry keeps its first record)."""
        with self._lock, self._conn() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO pending (enquiry_id, agency_id, agency_kind, referral_id, rag, due_at,"
                " delivered_at, channel) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (enquiry.enquiry_id, enquiry.agency_id, enquiry.agency_kind.value, enquiry.referral_id,
                 enquiry.rag.value, enquiry.due_at.isoformat(), datetime.now(UTC).isoformat(), channel),
            )
        found = self.get(enquiry.enquiry_id)
        assert found is not None
        return found

    def get(self, enquiry_id: str) -> PendingEnquiry | None:
        with self._conn() as conn:
            row = conn.execute(
                "SELECT enquiry_id, agency_id, agency_kind, referral_id, rag, due_at, delivered_at, channel, answered"
                " FROM pending WHERE enquiry_id = ?", (enquiry_id,)).fetchone()
        if row is None:
            return None
        keys = ("enquiry_id", "agency_id", "agency_kind", "referral_id", "rag", "due_at", "delivered_at", "channel")
        data = dict(zip(keys, row[:8]))
        data["answered"] = json.loads(row[8])
        return PendingEnquiry.model_validate(data)

    def mark_answered(self, enquiry_id: str, sequence: int, response_id: str) -> None:
        with self._lock, self._conn() as conn:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute("SELECT answered FROM pending WHERE enquiry_id = ?", (enquiry_id,)).fetchone()
            if row is None:
                conn.execute("ROLLBACK")
                raise KeyError(enquiry_id)
            answered = json.loads(row[0])
            answered[str(sequence)] = response_id
            conn.execute("UPDATE pending SET answered = ? WHERE enquiry_id = ?", (json.dumps(answered), enquiry_id))
            conn.execute("COMMIT")

    def all(self) -> list[PendingEnquiry]:
        with self._conn() as conn:
            ids = [r[0] for r in conn.execute("SELECT enquiry_id FROM pending ORDER BY delivered_at")]
        return [p for p in (self.get(i) for i in ids) if p is not None]
