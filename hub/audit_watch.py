"""The hub checks its own audit trail on a schedule and leaves anchors in its log.

Each pass (``AuditWatch.run_once``):

1. verifies the events added since the last anchor it took, and that the chain
   still agrees with that anchor (so a rewrite of anything before it is seen
   without recomputing the whole chain every time);
2. takes a new signed anchor of the head and writes it to the log as
   ``audit.anchor`` at INFO. Logs are shipped off the hub (SIEM, log store),
   so they become anchors outside the database without anyone running a job.

A failed check is logged as ``audit.verify_failed`` at ERROR with the
problem kinds and sequence numbers (never event content) and kept in
``last``; the next pass checks again from the last anchor that was good.

The last good anchor is also kept in a file (``anchor_file``, in the state
directory), so a restarted hub continues from it instead of recomputing a
chain of millions of events at every start. The file is as trustworthy as
its signature: a forged or edited one fails the check (reported), and an
older genuine one only means more is verified.

When ``security.audit_anchor_dir`` is set (a write-once mount, another
team's share), each new anchor is also written there as a file of its own,
``anchor-<sequence>-<UTC time>.json``, created with ``O_EXCL`` (never
overwriting one) and fsynced: the anchors leave the box without anyone
running a job, and ``mashlink audit verify --anchor-dir DIR`` checks the
chain against all of them. A failed write is logged at ERROR
(``audit.anchor_write_failed``) and the hub carries on: losing one copy of
an anchor must not stop safeguarding work.

Several hub instances on one PostgreSQL database: a pass first takes the
cluster-wide advisory lock ``mashlink.audit-watch`` (``hub.db.try_cluster_lock``,
held for the pass's snapshot transaction). A hub that finds it held skips
the pass (``AuditCheck.skipped``; ``last`` keeps its previous value) and
checks again on its next interval; two hubs never walk the chain at once.
On SQLite every pass runs, as before.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import structlog

from ..config.settings import HUB_SENDER_ID
from ..config.atomic_files import atomic_write_text, fsync_dir
from .audit import GENESIS_HASH, VerificationProblem, verify_audit_chain
from .audit_anchor import AuditAnchor, check_anchors, sign_anchor
from .db import snapshot, try_cluster_lock
from .service import HubService

log = structlog.get_logger(__name__)
#: The cluster-wide lock an audit self-check pass holds (PostgreSQL advisory lock, per schema).
AUDIT_WATCH_LOCK = "mashlink.audit-watch"


@dataclass(frozen=True)
class AuditCheck:
    ok: bool
    checked_at: datetime
    events_checked: int
    head_sequence: int
    problems: tuple[VerificationProblem, ...] = ()
    #: True when another hub instance held the check's lock, so this pass checked nothing.
    skipped: bool = False


def anchor_file_name(anchor: AuditAnchor) -> str:
    """``anchor-<sequence>-<UTC time>.json``: sorts by sequence, and names differ for each new anchor."""
    taken = anchor.taken_at.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"anchor-{anchor.sequence:012d}-{taken}.json"


def write_anchor_once(directory: Path, anchor: AuditAnchor) -> Path:
    """Create a new file for ``anchor`` in ``directory``; never replaces one (FileExistsError instead).

    Written in place with ``O_CREAT | O_EXCL`` rather than renamed from a
    temporary file, because write-once storage may refuse the rename or the
    removal of a temporary; the file is fsynced, then its directory.
    """
    path = directory / anchor_file_name(anchor)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    try:
        os.write(fd, (anchor.model_dump_json(indent=2) + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(directory)
    return path


class AuditWatch:
    def __init__(self, service: HubService, *, anchor_file: Path | None = None,
                 anchor_dir: Path | None = None) -> None:
        self.service = service
        self.anchor_file = anchor_file
        # Where each new anchor is also written (default: security.audit_anchor_dir; None: nowhere).
        self.anchor_dir = anchor_dir if anchor_dir is not None else service.settings.security.audit_anchor_dir
        self.anchor: AuditAnchor | None = self._load()  # the last anchor taken while the chain verified
        self.last: AuditCheck | None = None
        self._shipped: tuple[int, str] | None = None  # (sequence, hash) last written to anchor_dir

    def _load(self) -> AuditAnchor | None:
        if self.anchor_file is None or not self.anchor_file.exists():
            return None
        try:
            return AuditAnchor.model_validate_json(self.anchor_file.read_bytes())
        except (OSError, ValueError) as exc:  # unreadable: start from the beginning, and say so
            log.warning("audit.anchor_file_unreadable", file=str(self.anchor_file), error=type(exc).__name__)
            return None

    def _save(self, anchor: AuditAnchor) -> None:
        if self.anchor_file is not None:
            self.anchor_file.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.anchor_file, anchor.model_dump_json())

    def _ship(self, anchor: AuditAnchor) -> None:
        """Copy a new anchor to ``anchor_dir``; an anchor of an unchanged head adds no proof, so is skipped."""
        if self.anchor_dir is None or self._shipped == (anchor.sequence, anchor.hash):
            return
        try:
            path = write_anchor_once(self.anchor_dir, anchor)
        except OSError as exc:
            log.error("audit.anchor_write_failed", dir=str(self.anchor_dir), sequence=anchor.sequence,
                      error=type(exc).__name__, errno=exc.errno)
            return
        self._shipped = (anchor.sequence, anchor.hash)
        log.info("audit.anchor_written", file=str(path), sequence=anchor.sequence)

    def run_once(self) -> AuditCheck:
        service = self.service
        keys = {HUB_SENDER_ID: service.settings.signing_key(HUB_SENDER_ID)}  # anchors are the hub's own
        with service.factory() as session:
            snapshot(session)
            if not try_cluster_lock(session, AUDIT_WATCH_LOCK):
                log.debug("audit.check_skipped", reason="another hub instance is checking")
                return AuditCheck(ok=True, checked_at=service.clock(), events_checked=0,
                                  head_sequence=self.anchor.sequence if self.anchor else 0, skipped=True)
            start = self.anchor
            problems = check_anchors(session, [start], keys=keys) if start else []
            result = verify_audit_chain(session, key=service.store.audit_key,
                                        after_sequence=start.sequence if start else 0,
                                        after_hash=start.hash if start else GENESIS_HASH)
        problems = [*problems, *result.problems]
        check = AuditCheck(ok=not problems, checked_at=service.clock(), events_checked=result.events_checked,
                           head_sequence=result.head_sequence, problems=tuple(problems))
        self.last = check
        if problems:
            log.error("audit.verify_failed", problems=len(problems),
                      first=[f"{p.kind}@{p.sequence}" for p in problems[:10]],
                      since_sequence=start.sequence if start else 0)
            return check
        # The anchor names the last event this pass verified (not the live head, which may have
        # grown meanwhile): the next pass starts exactly where this one stopped.
        self.anchor = sign_anchor(result.last_sequence, result.last_hash, key=service.settings.signing_key(
            HUB_SENDER_ID), signer=HUB_SENDER_ID, now=service.clock())
        log.info("audit.anchor", sequence=self.anchor.sequence, hash=self.anchor.hash,
                 taken_at=self.anchor.taken_at.isoformat(), signer=self.anchor.signer,
                 signature=self.anchor.signature, events_checked=result.events_checked)
        self._save(self.anchor)
        self._ship(self.anchor)
        return check
