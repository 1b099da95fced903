"""The connectors' file plumbing, written once: drop folders, durable appends and small SQLite state.

Every agency kind meets a shared folder somewhere (worklist tasks out and
answers in, CTF drops, event files for the agency's tool) and keeps a little
local state (who is watched, which events were delivered). Before this module
the folder code was written three times, one copy without fsync; now:

* :class:`DropFolder` is the one watched folder: complete files wait in its
  inbox; each is either *done* (moved to ``processed/``, optionally with a
  ``NAME.report.txt``) or *parked* (``NAME.reason.txt`` written and fsynced
  first, then the file moved to ``failed/``), so a crash at any point leaves
  the file in the inbox to be handled again and nothing is lost or
  half-written. A parked file can be replayed into the inbox once fixed.
  Folders parked before the reason files became ``NAME.reason.txt`` hold
  Model 3 answers with a JSON ``NAME.reason``: those are still shown with
  their reasons and never taken for parked files (nor replayed).
  Files we write for the agency go into its ``outbox/`` atomically.
* :func:`append_line` appends one record to a log file and fsyncs it (and the
  directory when the file is new) before returning.
* :class:`SqliteState` is the base of the connectors' state stores: one
  SQLite file, WAL, ``synchronous=FULL`` (every commit fsynced), a schema
  version in ``PRAGMA user_version`` with forward upgrades, and a refusal to
  open a file written by a newer release (rather than guess at its tables).

Atomic writes themselves (temp file in the same directory, fsync, rename,
fsync the directory) live in :mod:`config.atomic_files`, because the hub
needs them too and the hub may not import connectors; they are re-exported
here so a connector has one place to import file plumbing from.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from ..config.atomic_files import atomic_move, atomic_write_bytes, atomic_write_text, free_name, fsync_dir, is_temporary

__all__ = ["DropFolder", "FileRejection", "SqliteState", "StateSchema", "StateSchemaError", "append_line",
           "atomic_write_bytes", "atomic_write_text", "is_partial", "is_temporary", "move_done", "park_file",
           "is_reason_file", "parked_files", "parked_reason", "read_reason", "reason_file",
           "safe_file_name"]

#: Upload tools' partial-file suffixes, on top of :func:`config.atomic_files.is_temporary`.
_PARTIAL_SUFFIXES = (".partial", ".crdownload")
REASON_SUFFIX = ".reason.txt"
#: Before the upgrade, Model 3 answers were parked with a JSON ``NAME.reason`` (``message`` is now ``detail``).
LEGACY_REASON_SUFFIX = ".reason"
REPORT_SUFFIX = ".report.txt"


def is_partial(path: Path) -> bool:
    """A file still being written: our temporaries, hidden files, upload tools' partial names."""
    return is_temporary(path) or path.name.lower().endswith(_PARTIAL_SUFFIXES)


def safe_file_name(identifier: str, suffix: str = ".json") -> str:
    """A file name from an id we did not choose (an enquiry or message id): no path separators, no dots tricks."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in identifier).lstrip(".") + suffix


def append_line(path: Path, line: str) -> None:
    """Append ``line`` (one record, newline added when missing) and make it durable before returning.

    Why the directory fsync: a new file's directory entry is not durable
    until its directory is synced, so the first record of a new log could
    vanish in a power cut even though the file's own bytes were fsynced.
    """
    path = Path(path)
    new = not path.exists()
    if not line.endswith("\n"):
        line += "\n"
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())
    if new:
        fsync_dir(path.parent)


@dataclass(frozen=True)
class FileRejection:
    """Why a dropped file was parked: the rule broken and where (never the file's content)."""

    rule: str
    detail: str = ""
    field: str | None = None
    position: str | None = None
    problems: Sequence[str] = ()


def _reason_text(name: str, rejection: FileRejection) -> str:
    header = {"file": name, "rule": rejection.rule, "field": rejection.field, "position": rejection.position,
              "detail": rejection.detail, "failed_at": datetime.now(UTC).isoformat()}
    lines = [f"{key}: {' '.join(str(value).split())}" for key, value in header.items() if value]
    if rejection.problems:
        lines += ["", *rejection.problems]
    return "\n".join(lines) + "\n"


def _move(src: Path, dst_dir: Path, target: Path) -> Path:
    """Move ``src`` to ``target`` durably, also when the inbox sits on another file system than ``dst_dir``.

    Why the copy: an inbox is often an SFTP share mounted elsewhere, where
    ``rename`` fails with EXDEV; the copy goes to a temporary beside the
    target, is fsynced and renamed, and only then is the source removed, so a
    crash leaves the file in the inbox (handled again), never lost.
    """
    try:
        return atomic_move(src, dst_dir, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    tmp = target.with_name(f".{target.name}.copy.tmp")
    try:
        shutil.copyfile(src, tmp)
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(dst_dir)
    src.unlink()
    fsync_dir(src.parent)
    return target


def move_done(path: Path, processed: Path, *, report: str | None = None) -> Path:
    """Move a handled file into ``processed`` (never over an earlier one); the report, if any, first."""
    processed.mkdir(parents=True, exist_ok=True)
    target = free_name(processed, path.name)
    if report is not None:
        atomic_write_text(target.with_name(target.name + REPORT_SUFFIX), report)
    return _move(path, processed, target)


def park_file(path: Path, failed: Path, rejection: FileRejection) -> Path:
    """Move a refused file into ``failed`` with ``NAME.reason.txt``; the reason is durable before the file moves."""
    failed.mkdir(parents=True, exist_ok=True)
    target = free_name(failed, path.name)
    atomic_write_text(target.with_name(target.name + REASON_SUFFIX), _reason_text(path.name, rejection))
    return _move(path, failed, target)


def is_reason_file(path: Path) -> bool:
    """A reason file, current (``NAME.reason.txt``) or from before the upgrade (``NAME.reason``): never a parked file."""
    return path.name.endswith((REASON_SUFFIX, LEGACY_REASON_SUFFIX))


def parked_files(failed: Path) -> list[Path]:
    """Files parked in ``failed`` (their reason files and temporaries excluded), by name; none if it is missing."""
    if not failed.is_dir():
        return []
    return sorted(p for p in failed.iterdir() if p.is_file() and not is_reason_file(p) and not is_temporary(p))


def reason_file(parked: Path) -> Path | None:
    """The reason file of a parked file: ``NAME.reason.txt``, else a pre-upgrade ``NAME.reason``; None if neither."""
    for suffix in (REASON_SUFFIX, LEGACY_REASON_SUFFIX):
        candidate = parked.with_name(parked.name + suffix)
        if candidate.is_file():
            return candidate
    return None


def parked_reason(parked: Path) -> dict[str, str]:
    """Why ``parked`` was refused (``read_reason`` of its reason file), or {} when it has none."""
    found = reason_file(parked)
    return read_reason(found) if found is not None else {}


def _legacy_reason(data: dict[str, object]) -> dict[str, str]:
    """A pre-upgrade JSON reason in today's keys: ``message`` becomes ``detail``; nulls and empties are left out."""
    out: dict[str, str] = {}
    for key, value in data.items():
        if value is None or value == "" or value == []:
            continue
        key = "detail" if key == "message" else str(key)
        if key == "problems" and isinstance(value, list):
            out[key] = "\n".join(str(v) for v in value)
        else:
            out[key] = " ".join(str(value).split())
    return out


def read_reason(path: Path) -> dict[str, str]:
    """The ``key: value`` head of a reason file as a dict; the free text after the blank line as ``problems``.

    A pre-upgrade ``NAME.reason`` holds one JSON object instead: it is read
    into the same keys, so files parked before the upgrade still say why.
    """
    text = Path(path).read_text(encoding="utf-8")
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            return _legacy_reason(data)
    head, _, tail = text.partition("\n\n")
    out = {}
    for line in head.splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            out[key] = value
    if tail.strip():
        out["problems"] = tail.strip()
    return out


@dataclass
class DropFolder:
    """A shared folder: ``<inbox>/`` complete files in, ``processed/`` | ``failed/`` out, ``outbox/`` ours.

    ``inbox_name`` names the incoming folder (``inbox`` for answers,
    ``incoming`` for CTF drops), or ``inbox_dir`` puts it elsewhere (social
    care's SFTP share); ``failed_name`` is where refused files are parked
    (``rejected`` for social care, whose installations already have that
    folder); ``suffixes`` limits which complete files are taken
    (``(".json",)``), empty meaning any. A writer must write a temporary name
    (``*.tmp``, ``*.part``, a hidden ``.name``) and rename it when done;
    those are never read. ``with_outbox`` creates ``outbox/`` up front, for
    a folder we deliver into: the agency's tool watches it from the start.
    """

    root: Path
    inbox_name: str = "inbox"
    suffixes: tuple[str, ...] = ()
    inbox_dir: Path | None = None
    failed_name: str = "failed"
    with_outbox: bool = False
    inbox: Path = field(init=False)
    outbox: Path = field(init=False)
    processed: Path = field(init=False)
    failed: Path = field(init=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.inbox = Path(self.inbox_dir) if self.inbox_dir is not None else self.root / self.inbox_name
        self.outbox = self.root / "outbox"
        self.processed = self.root / "processed"
        self.failed = self.root / self.failed_name
        for folder in (self.inbox, self.processed, self.failed, *([self.outbox] if self.with_outbox else [])):
            folder.mkdir(parents=True, exist_ok=True)

    def is_complete(self, path: Path) -> bool:
        """A file a reader may take: not a temporary or partial upload, and of an accepted suffix."""
        if is_partial(path):
            return False
        return not self.suffixes or path.suffix.lower() in self.suffixes

    def waiting(self) -> list[Path]:
        """Complete files in the inbox, oldest first (name breaks ties)."""
        files = []
        for path in self.inbox.iterdir():
            try:
                if path.is_file() and self.is_complete(path):
                    files.append((path.stat().st_mtime_ns, path.name, path))
            except FileNotFoundError:  # taken by another poller meanwhile
                continue
        return [path for _, _, path in sorted(files)]

    def write_out(self, name: str, text: str) -> Path:
        """Write ``outbox/<name>`` atomically (fsynced); writing the same name again replaces it in place."""
        return atomic_write_text(self.outbox / name, text)

    def done(self, path: Path, *, report: str | None = None) -> Path:
        """Move a handled file to ``processed/`` (never over an earlier one); the report, if any, first."""
        return move_done(path, self.processed, report=report)

    def park(self, path: Path, rejection: FileRejection) -> Path:
        """Move a refused file to ``failed/`` with its reason; the reason is durable before the file moves."""
        return park_file(path, self.failed, rejection)

    def parked(self) -> list[Path]:
        """Files waiting in ``failed/`` (their reason files excluded)."""
        return parked_files(self.failed)

    def replay(self, name: str) -> Path:
        """Put a parked file back into the inbox (once its cause is fixed); its reason file goes."""
        source = self.failed / Path(name).name
        if not source.is_file() or is_reason_file(source):
            raise FileNotFoundError(f"{self.failed_name}/{Path(name).name}: no parked file of that name")
        target = _move(source, self.inbox, free_name(self.inbox, source.name))
        for suffix in (REASON_SUFFIX, LEGACY_REASON_SUFFIX):
            source.with_name(source.name + suffix).unlink(missing_ok=True)
        fsync_dir(self.failed)
        return target


class StateSchemaError(RuntimeError):
    """The state file was written by a newer release: refusing to open it rather than misread it."""


@dataclass(frozen=True)
class StateSchema:
    """Tables of one store: ``create`` (idempotent DDL of the current version) and upgrades by target version."""

    version: int
    create: tuple[str, ...]
    upgrades: Mapping[int, tuple[str, ...]] = field(default_factory=dict)


class SqliteState:
    """Base of a connector's SQLite state file: WAL, every commit fsynced, schema versioned.

    Subclasses set :attr:`schema`; ``_conn()`` opens a short connection
    (autocommit, so ``BEGIN IMMEDIATE`` ... ``COMMIT`` is explicit) and
    ``_lock`` serialises writers in this process. One short connection per
    call keeps the store safe from several threads.
    """

    schema: ClassVar[StateSchema]

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._lock, self._conn() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._migrate(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _migrate(self, conn: sqlite3.Connection) -> None:
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
        wanted = self.schema.version
        if found > wanted:
            raise StateSchemaError(f"{self.path.name}: state schema version {found} is newer than this release's"
                                   f" {wanted} (rule: no downgrade); run the newer release or move the file aside")
        if int(conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]):
            # An existing file: a version-0 file predates versioning and holds version 1's tables.
            for version in range(max(found, 1) + 1, wanted + 1):
                for statement in self.schema.upgrades.get(version, ()):
                    conn.execute(statement)
        for statement in self.schema.create:  # idempotent (IF NOT EXISTS): a new file, or tables a version adds
            conn.execute(statement)
        if found != wanted:
            conn.execute(f"PRAGMA user_version = {int(wanted)}")

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous=FULL")  # every commit fsynced: remembered, or not done
            yield conn
        finally:
            conn.close()

    def schema_version(self) -> int:
        with self._conn() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

