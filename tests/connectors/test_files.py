"""The connectors' shared file plumbing with real files, real SQLite and a real killed process."""

from __future__ import annotations

import errno
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mashlink.config import atomic_files
from mashlink.connectors import files
from mashlink.connectors.files import (
    DropFolder,
    FileRejection,
    SqliteState,
    StateSchema,
    StateSchemaError,
    append_line,
    atomic_write_text,
    read_reason,
)


# ---- atomic write ---------------------------------------------------------------------------------------
def test_a_writer_killed_before_the_rename_leaves_the_old_file_and_only_an_ignored_temporary(tmp_path: Path) -> None:
    folder = DropFolder(tmp_path / "share", suffixes=(".json",))
    target = folder.inbox / "answer.json"
    atomic_write_text(target, '{"old": true}')
    # A separate process is SIGKILLed at the moment the new bytes are written but not yet renamed.
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from mashlink.config import atomic_files
        os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)
        atomic_files.atomic_write_bytes(Path({str(target)!r}), b'{{"new": "' + b"x" * 200000 + b'"}}')
    """)
    done = subprocess.run([sys.executable, "-c", script], timeout=120)
    assert done.returncode == -signal.SIGKILL
    assert target.read_text() == '{"old": true}'  # never the partial new bytes under the final name
    leftovers = [p for p in folder.inbox.iterdir() if p != target]
    assert len(leftovers) == 1 and atomic_files.is_temporary(leftovers[0])
    assert folder.waiting() == [target]  # the temporary is never taken as a dropped file


def test_a_failed_rename_removes_its_temporary_and_keeps_the_old_file(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "task.json"
    atomic_write_text(target, "old")

    def full_disk(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_files.os, "replace", full_disk)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    assert [p.name for p in tmp_path.iterdir()] == ["task.json"] and target.read_text() == "old"


def test_atomic_create_writes_once_privately_and_never_replaces(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "signing.key"
    assert atomic_files.atomic_create_bytes(key, b"first") is True
    assert oct(key.stat().st_mode & 0o777) == oct(0o600)
    assert atomic_files.atomic_create_bytes(key, b"second") is False  # a second start keeps the first key
    assert key.read_bytes() == b"first" and [p.name for p in key.parent.iterdir()] == ["signing.key"]


def test_append_line_syncs_the_file_and_a_new_files_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced_dirs: list[Path] = []
    monkeypatch.setattr(files, "fsync_dir", synced_dirs.append)
    log = tmp_path / "receipts.jsonl"
    append_line(log, '{"n": 1}')
    append_line(log, '{"n": 2}\n')
    assert log.read_text() == '{"n": 1}\n{"n": 2}\n'
    assert synced_dirs == [tmp_path]  # the directory entry once, when the file was created


# ---- drop folder -----------------------------------------------------------------------------------------
def test_only_complete_files_of_the_accepted_kind_wait(tmp_path: Path) -> None:
    folder = DropFolder(tmp_path / "share", suffixes=(".json",))
    for name in ("b.json", ".hidden.json", "c.json.tmp", "d.json.part", "e.json.partial", "f.crdownload", "g.txt"):
        (folder.inbox / name).write_text("{}")
    os.utime(folder.inbox / "b.json", ns=(1, 1))
    (folder.inbox / "a.json").write_text("{}")
    assert [p.name for p in folder.waiting()] == ["b.json", "a.json"]  # oldest first, whatever the name


def test_a_bad_file_is_parked_with_its_reason_and_can_be_replayed(tmp_path: Path) -> None:
    folder = DropFolder(tmp_path / "share", inbox_name="incoming")
    bad = folder.inbox / "pupils.xml"
    bad.write_bytes(b"<CTfile><broken")
    parked = folder.park(bad, FileRejection(rule="not_well_formed", field="CTfile", position="line 1 column 16",
                                            detail="File not ingested;\n nothing indexed.", problems=["one", "two"]))
    assert parked == folder.failed / "pupils.xml" and parked.read_bytes() == b"<CTfile><broken"  # byte for byte
    assert list(folder.inbox.iterdir()) == []
    reason = read_reason(folder.failed / "pupils.xml.reason.txt")
    assert (reason["file"], reason["rule"], reason["field"], reason["position"]) == (
        "pupils.xml", "not_well_formed", "CTfile", "line 1 column 16")
    assert reason["detail"] == "File not ingested; nothing indexed." and reason["problems"] == "one\ntwo"
    assert folder.parked() == [parked]

    replayed = folder.replay("pupils.xml")
    assert replayed == folder.inbox / "pupils.xml" and folder.waiting() == [replayed]
    assert list(folder.failed.iterdir()) == []  # the reason went with it
    with pytest.raises(FileNotFoundError, match="failed/pupils.xml"):
        folder.replay("pupils.xml")


def _park_before_the_upgrade(folder: DropFolder, name: str, reason: dict[str, object]) -> Path:
    """A file parked by the release before ``NAME.reason.txt``: Model 3 wrote a JSON ``NAME.reason``."""
    (folder.failed / name).write_text('{"enquiry_id": "ENQ-1"}')
    (folder.failed / f"{name}.reason").write_text(json.dumps({"file": name, **reason}, indent=2) + "\n")
    return folder.failed / name


def test_files_parked_before_the_upgrade_keep_their_json_reason_and_are_never_taken_for_parked_files(
        tmp_path: Path) -> None:
    folder = DropFolder(tmp_path / "answers", suffixes=(".json",))
    old = _park_before_the_upgrade(folder, "bad-status.json", {
        "field": "$.status", "rule": "enum", "message": "not one of\n the allowed statuses", "position": None,
        "failed_at": "2026-11-30T09:00:00+00:00"})
    (folder.inbox / "broken.json").write_text("{")
    new = folder.park(folder.inbox / "broken.json", FileRejection(rule="json_syntax", position="line 1 column 2"))

    assert folder.parked() == [old, new]  # bad-status.json.reason is a reason, not a parked file
    assert read_reason(folder.failed / "bad-status.json.reason") == {
        "file": "bad-status.json", "field": "$.status", "rule": "enum",
        "detail": "not one of the allowed statuses", "failed_at": "2026-11-30T09:00:00+00:00"}
    assert files.reason_file(old) == folder.failed / "bad-status.json.reason"
    assert files.parked_reason(new)["rule"] == "json_syntax" and files.parked_reason(folder.inbox / "x.json") == {}

    with pytest.raises(FileNotFoundError, match="no parked file of that name"):
        folder.replay("bad-status.json.reason")
    assert folder.replay("bad-status.json") == folder.inbox / "bad-status.json"
    assert sorted(p.name for p in folder.failed.iterdir()) == ["broken.json", "broken.json.reason.txt"]


def test_a_reason_file_that_is_not_json_is_read_as_key_value_lines(tmp_path: Path) -> None:
    reason = tmp_path / "a.json.reason"
    reason.write_text("{ not json\nrule: json_syntax\n")
    assert read_reason(reason) == {"rule": "json_syntax"}


@pytest.mark.parametrize("step", ["atomic_write_text", "atomic_move"])
def test_a_crash_while_parking_leaves_the_file_in_the_inbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            step: str) -> None:
    folder = DropFolder(tmp_path / "share")
    bad = folder.inbox / "answer.json"
    bad.write_text("{")

    def crash(*args: object) -> Path:
        raise KeyboardInterrupt  # the process dies while writing the reason, or while moving the file

    monkeypatch.setattr(files, step, crash)
    with pytest.raises(KeyboardInterrupt):
        folder.park(bad, FileRejection(rule="json_syntax"))
    assert folder.waiting() == [bad]  # not lost: handled again on the next poll
    monkeypatch.undo()
    folder.park(bad, FileRejection(rule="json_syntax"))
    assert sorted(p.name for p in folder.failed.iterdir()) == ["answer.json", "answer.json.reason.txt"]


def test_an_inbox_on_another_file_system_is_copied_durably_then_removed(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    folder = DropFolder(tmp_path / "state", inbox_dir=tmp_path / "sftp" / "cin", failed_name="rejected")
    assert folder.inbox == tmp_path / "sftp" / "cin" and folder.failed == tmp_path / "state" / "rejected"
    bad = folder.inbox / "cin.xml"
    bad.write_bytes(b"<Message/>")

    def cross_device(src: Path, dst_dir: Path, target: Path | None = None) -> Path:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(files, "atomic_move", cross_device)
    parked = folder.park(bad, FileRejection(rule="format", detail="not a CIN census"))
    assert parked.read_bytes() == b"<Message/>" and not bad.exists()
    assert sorted(p.name for p in folder.failed.iterdir()) == ["cin.xml", "cin.xml.reason.txt"]  # no temporary
    assert folder.replay("cin.xml") == bad and bad.read_bytes() == b"<Message/>"
    with pytest.raises(FileNotFoundError, match="rejected/cin.xml: no parked file"):
        folder.replay("cin.xml")


def test_done_never_overwrites_and_writes_the_report_first(tmp_path: Path) -> None:
    folder = DropFolder(tmp_path / "share")
    for n in range(2):
        (folder.inbox / "answer.json").write_text(str(n))
        folder.done(folder.inbox / "answer.json", report=f"report {n}\n")
    assert {p.name: p.read_text() for p in folder.processed.iterdir()} == {
        "answer.json": "0", "answer.json.report.txt": "report 0\n",
        "answer.1.json": "1", "answer.1.json.report.txt": "report 1\n"}


# ---- SQLite state ----------------------------------------------------------------------------------------
class _Counts(SqliteState):
    schema = StateSchema(version=2, create=(
        "CREATE TABLE IF NOT EXISTS counts (name TEXT PRIMARY KEY, n INTEGER NOT NULL, note TEXT)",),
        upgrades={2: ("ALTER TABLE counts ADD COLUMN note TEXT",)})


def test_a_new_state_file_is_versioned_and_journalled(tmp_path: Path) -> None:
    state = _Counts(tmp_path / "s.sqlite3")
    assert state.schema_version() == 2
    with state._conn() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: every commit fsynced
        conn.execute("INSERT INTO counts VALUES ('a', 1, 'x')")
    assert _Counts(tmp_path / "s.sqlite3").schema_version() == 2  # reopening changes nothing


def test_an_unversioned_file_is_taken_as_version_one_and_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:  # written by a release before versioning
        conn.execute("CREATE TABLE counts (name TEXT PRIMARY KEY, n INTEGER NOT NULL)")
        conn.execute("INSERT INTO counts VALUES ('a', 1)")
    state = _Counts(path)
    assert state.schema_version() == 2
    with state._conn() as conn:
        assert conn.execute("SELECT name, n, note FROM counts").fetchall() == [("a", 1, None)]


def test_a_file_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 3")
    with pytest.raises(StateSchemaError, match="new.sqlite3: state schema version 3 is newer"):
        _Counts(path)
