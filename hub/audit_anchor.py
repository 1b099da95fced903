"""Audit anchors: the chain head, signed and kept outside the hub's database.

The audit chain (``hub/audit.py``) shows any edit, deletion or reordering of
events *relative to the rest of the chain*. Someone with write access to the
database could still rewrite the whole tail consistently (recompute every hash
after the event they changed) and the chain alone would verify. An anchor
closes that gap the way transparency logs do: ``mashlink audit anchor`` writes
the current head (sequence and hash) signed with the hub's key; ops keep those
files somewhere the database's writers cannot change (a ticket, write-once
storage, another team's system), and ``mashlink audit verify --anchor FILE``
checks that the chain still holds exactly that event at that position. Any
rewrite of history at or before an anchored event is then detected.

The signature (HMAC-SHA256 with the hub's signing key) proves an anchor file
came from this hub; the protection itself comes from where the file is kept.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from datetime import datetime

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from .audit import GENESIS_HASH, HEAD_ID, VerificationProblem
from .models import AuditEventRow, AuditHeadRow
from ..schemas.base import CanonicalModel, UtcDatetime

ANCHOR_KIND = "mashlink.audit-anchor"


class AuditAnchor(CanonicalModel):
    """One signed observation of the chain head."""

    kind: str = Field(default=ANCHOR_KIND, pattern=f"^{ANCHOR_KIND}$")
    sequence: int = Field(ge=0, description="The last event's sequence (0: empty chain)")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="That event's chain hash")
    taken_at: UtcDatetime
    signer: str = Field(min_length=1, max_length=64, description="Sender id whose key signed it ('hub')")
    signature: str = Field(default="", description="hex HMAC-SHA256 over the other fields' canonical JSON")

    def signing_bytes(self) -> bytes:
        data = self.model_dump(mode="json", exclude={"signature"})
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def _signature(anchor: AuditAnchor, key: bytes) -> str:
    return hmac.new(key, anchor.signing_bytes(), hashlib.sha256).hexdigest()


def sign_anchor(sequence: int, hash_: str, *, key: bytes, signer: str, now: datetime) -> AuditAnchor:
    anchor = AuditAnchor(sequence=sequence, hash=hash_, taken_at=now, signer=signer)
    return anchor.model_copy(update={"signature": _signature(anchor, key)})


def take_anchor(session: Session, *, key: bytes, signer: str, now: datetime) -> AuditAnchor:
    """The current head, signed. Reads the head row, so it names a committed state."""
    head = session.execute(select(AuditHeadRow).where(AuditHeadRow.id == HEAD_ID)).scalar_one_or_none()
    return sign_anchor(head.sequence if head else 0, head.hash if head else GENESIS_HASH, key=key, signer=signer,
                       now=now)


def check_anchors(session: Session, anchors: Iterable[AuditAnchor], *, keys: dict[str, bytes]) -> list[VerificationProblem]:
    """Problems for every anchor that is forged or that the chain no longer agrees with."""
    problems: list[VerificationProblem] = []
    for anchor in anchors:
        key = keys.get(anchor.signer)
        # Compared as UTF-8 bytes: compare_digest refuses str with non-ASCII characters (a forged anchor
        # file may hold any text), and a refusal must be a reported problem, not a crash.
        if key is None or not hmac.compare_digest(_signature(anchor, key).encode(), anchor.signature.encode()):
            problems.append(VerificationProblem(
                sequence=anchor.sequence, kind="anchor_signature",
                detail=f"anchor taken at {anchor.taken_at.isoformat()} is not signed by {anchor.signer!r}'s key"))
            continue
        if anchor.sequence == 0:
            continue  # the empty chain: every chain starts from it
        stored = session.execute(
            select(AuditEventRow.hash).where(AuditEventRow.sequence == anchor.sequence)
        ).scalar_one_or_none()
        if stored is None:
            problems.append(VerificationProblem(
                sequence=anchor.sequence, kind="anchor_missing",
                detail=f"the chain no longer holds event {anchor.sequence}, anchored at "
                       f"{anchor.taken_at.isoformat()}: events were removed"))
        elif stored != anchor.hash:
            problems.append(VerificationProblem(
                sequence=anchor.sequence, kind="anchor_mismatch",
                detail=f"event {anchor.sequence} differs from the anchor taken at {anchor.taken_at.isoformat()}: "
                       "the history up to it was rewritten"))
    return problems
