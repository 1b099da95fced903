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
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import structlog

from mashlink.config.settings import HUB_SENDER_ID
from mashlink.connectors.delivery.atomic import atomic_write_text
from mashlink.hub.audit import GENESIS_HASH, VerificationProblem, verify_audit_chain
from mashlink.hub.audit_anchor import AuditAnchor, check_anchors, sign_anchor
from mashlink.hub.db import snapshot
from mashlink.hub.service import HubService

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class AuditCheck:
    ok: bool
    checked_at: datetime
    events_checked: int
    head_sequence: int
    problems: tuple[VerificationProblem, ...] = ()


class AuditWatch:
    def __init__(self, service: HubService, *, anchor_file: Path | None = None) -> None:
        self.service = service
        self.anchor_file = anchor_file
        self.anchor: AuditAnchor | None = self._load()  # the last anchor taken while the chain verified
        self.last: AuditCheck | None = None

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

    def run_once(self) -> AuditCheck:
        service = self.service
        keys = {sender: service.settings.signing_key(sender) for sender in service.settings.signing_keys}
        with service.factory() as session:
            snapshot(session)
            start = self.anchor
            problems = check_anchors(session, [start], keys=keys) if start else []
            result = verify_audit_chain(session, after_sequence=start.sequence if start else 0,
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
        return check
