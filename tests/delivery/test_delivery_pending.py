"""The pending-enquiry store on the shared SQLite base: versioned, durable, and adopting files written before versioning."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mashlink.connectors.delivery.pending import PendingStore
from mashlink.connectors.files import StateSchemaError

from .conftest import make_enquiry

_OLD_TABLE = """CREATE TABLE pending (enquiry_id TEXT PRIMARY KEY, agency_id TEXT NOT NULL, agency_kind TEXT NOT NULL,
    referral_id TEXT NOT NULL, rag TEXT NOT NULL, due_at TEXT NOT NULL, delivered_at TEXT NOT NULL,
    channel TEXT NOT NULL, answered TEXT NOT NULL DEFAULT '{}')"""


def test_a_new_pending_file_is_versioned_journalled_and_remembers_answers(tmp_path: Path) -> None:
    store = PendingStore(tmp_path / "pending.sqlite3")
    enquiry = make_enquiry()
    store.remember(enquiry, "dropfolder")
    store.mark_answered(enquiry.enquiry_id, 1, "resp-1")
    reopened = PendingStore(tmp_path / "pending.sqlite3")  # as after a connector restart
    assert reopened.schema_version() == 1
    with reopened._conn() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: every commit fsynced
    found = reopened.get(enquiry.enquiry_id)
    assert found is not None and found.answered_response(1) == "resp-1" and found.channel == "dropfolder"
    with pytest.raises(KeyError):
        reopened.mark_answered("never-delivered", 1, "resp-2")


def test_a_pending_file_from_before_versioning_is_adopted_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "pending.sqlite3"
    enquiry = make_enquiry()
    with sqlite3.connect(path) as conn:  # written by a release before the shared base
        conn.execute(_OLD_TABLE)
        conn.execute("INSERT INTO pending VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (enquiry.enquiry_id, enquiry.agency_id, enquiry.agency_kind.value, enquiry.referral_id,
                      enquiry.rag.value, enquiry.due_at.isoformat(), enquiry.requested_at.isoformat(), "webhook",
                      '{"1": "resp-old"}'))
    store = PendingStore(path)
    assert store.schema_version() == 1
    [adopted] = store.all()
    assert adopted.enquiry_id == enquiry.enquiry_id and adopted.answered_response(1) == "resp-old"


def test_a_pending_file_from_a_newer_release_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "pending.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 2")
    with pytest.raises(StateSchemaError, match="pending.sqlite3: state schema version 2 is newer"):
        PendingStore(path)
