"""The tamper-evident audit chain: append (serialised) and verify.

Each event's hash is HMAC-SHA256, keyed with the audit key
(``mashlink.hub.audit_key``, which the database does not hold), over the
previous event's hash followed by the canonical JSON of the event (sorted
keys, no spaces, everything but the hash itself). Editing an event changes
its hash; deleting one leaves a gap in the sequence and a broken link;
reordering changes the sequence numbers the hashes were computed over;
cutting events off the end disagrees with the chain head.
``verify_audit_chain`` reports each of those. Because the hash is keyed,
someone who can write the database but does not hold the key cannot
recompute the hashes after an edit, nor seal a forged event onto the end.

Appends are buffered for the length of a unit of work and written at commit
time under a lock on the single ``audit_head`` row (``SELECT ... FOR UPDATE``
on PostgreSQL; SQLite transactions already start with ``BEGIN IMMEDIATE``), so
concurrent writers never fork the chain and the lock is held only for the
last moments of a transaction.

Detail values are restricted to ids, codes and counts: no personal data.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from .models import AuditEventRow, AuditHeadRow
from ..schemas.audit import AuditEvent

GENESIS_HASH = "0" * 64
HEAD_ID = 1
MAX_DETAIL_TEXT = 200

#: Detail keys that would carry personal data; refused outright.
_PERSONAL_DETAIL_KEYS = frozenset(
    {
        "name", "names", "given", "family", "dob", "birth_date", "address", "addresses", "postcode",
        "nhs_number", "upn", "identifier", "identifiers", "narrative", "summary", "text", "body",
        "phone", "email", "subjects", "person", "people", "findings", "rationale",
    }
)

DetailValue = str | int | float | bool | None | list[str]


class AuditDetailError(ValueError):
    """An audit detail that could carry personal data (a programming error, not user input)."""


def check_detail(detail: dict[str, Any]) -> dict[str, DetailValue]:
    """Refuse personal-data keys and long free text: audit details hold ids, codes and counts."""
    for key, value in detail.items():
        if key.lower() in _PERSONAL_DETAIL_KEYS:
            raise AuditDetailError(f"audit detail key {key!r} could carry personal data")
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, str) and len(item) > MAX_DETAIL_TEXT:
                raise AuditDetailError(f"audit detail {key!r} is free text ({len(item)} chars); use ids and codes")
            if not isinstance(item, (str, int, float, bool, type(None))):
                raise AuditDetailError(f"audit detail {key!r} must be a scalar or list of strings")
    return dict(detail)


def canonical_json(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(event_fields: dict[str, Any], previous_hash: str, *, key: bytes) -> str:
    """HMAC-SHA256(key, previous_hash + canonical JSON of the event without its hash)."""
    if not key:
        raise ValueError("the audit chain needs a non-empty key")
    payload = {k: v for k, v in event_fields.items() if k != "hash"}
    return hmac.new(key, (previous_hash + canonical_json(payload)).encode("utf-8"), hashlib.sha256).hexdigest()


def _fields(row: Any) -> dict[str, Any]:
    """The hashed fields of a stored event, rendered exactly as when it was appended."""
    return AuditEvent(
        sequence=row.sequence, event_id=row.event_id, at=row.at, actor=row.actor, action=row.action,
        referral_id=row.referral_id, enquiry_id=row.enquiry_id, message_id=row.message_id,
        detail=row.detail, reason=row.reason, previous_hash=row.previous_hash, hash=row.hash,
    ).model_dump(mode="json", exclude={"hash"})


@dataclass
class PendingAudit:
    actor: str
    action: str
    at: datetime
    referral_id: str | None = None
    enquiry_id: str | None = None
    message_id: str | None = None
    detail: dict[str, DetailValue] = field(default_factory=dict)
    reason: str | None = None
    # Chosen when recorded, not at flush, so rows written in the same unit can name their event.
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)


class AuditBuffer:
    """Audit events of one unit of work, appended to the chain at commit."""

    def __init__(self) -> None:
        self.pending: list[PendingAudit] = []

    def record(self, *, actor: str, action: str, at: datetime, referral_id: str | None = None,
               enquiry_id: str | None = None, message_id: str | None = None,
               detail: dict[str, Any] | None = None, reason: str | None = None) -> str:
        """Buffer one event; returns the ``event_id`` it will be appended with."""
        item = PendingAudit(actor=actor, action=action, at=at, referral_id=referral_id, enquiry_id=enquiry_id,
                            message_id=message_id, detail=check_detail(detail or {}), reason=reason)
        self.pending.append(item)
        return item.event_id

    def mark(self) -> int:
        return len(self.pending)

    def rollback_to(self, mark: int) -> None:
        del self.pending[mark:]

    def flush(self, session: Session, *, key: bytes) -> list[AuditEvent]:
        """Append the pending events under the head lock (call last, just before commit).

        ``key`` is the audit key: each event's hash is an HMAC with it.

        Each event is still built and rendered through the ``AuditEvent``
        model (so the hashed JSON is exactly what ``verify_audit_chain``
        recomputes), but the rows go in as ONE multi-row insert of plain
        values instead of one ORM object per event: the ORM's per-object
        bookkeeping was most of the cost of a response batch.
        """
        if not self.pending:
            return []
        head = session.execute(
            select(AuditHeadRow).where(AuditHeadRow.id == HEAD_ID).with_for_update()
        ).scalar_one_or_none()
        if head is None:
            head = AuditHeadRow(id=HEAD_ID, sequence=0, hash=GENESIS_HASH)
            session.add(head)
        sequence, previous = head.sequence, head.hash
        written: list[AuditEvent] = []
        rows: list[dict[str, Any]] = []
        for item in self.pending:
            sequence += 1
            event = AuditEvent(
                sequence=sequence, event_id=item.event_id, at=item.at, actor=item.actor, action=item.action,
                referral_id=item.referral_id, enquiry_id=item.enquiry_id, message_id=item.message_id,
                detail=item.detail, reason=item.reason, previous_hash=previous, hash=GENESIS_HASH,
            )
            digest = event_hash(event.model_dump(mode="json", exclude={"hash"}), previous, key=key)
            event.hash = digest  # an HMAC-SHA256 hex digest: valid for the field by construction
            rows.append({name: getattr(event, name) for name in _EVENT_COLUMNS})
            written.append(event)
            previous = digest
        session.execute(insert(AuditEventRow.__table__), rows)
        head.sequence, head.hash = sequence, previous
        self.pending.clear()
        session.flush()
        return written


#: The AuditEvent fields, each stored in the column of the same name.
_EVENT_COLUMNS = tuple(AuditEvent.model_fields)


class VerificationProblem(BaseModel):
    sequence: int | None
    kind: str = Field(description="gap | broken_link | hash_mismatch | out_of_order | head_mismatch | "
                                  "anchor_signature | anchor_missing | anchor_mismatch")
    detail: str


class VerificationResult(BaseModel):
    ok: bool
    events_checked: int
    last_sequence: int
    head_sequence: int
    problems: list[VerificationProblem]
    anchors_checked: int = 0
    last_hash: str = Field(default=GENESIS_HASH, description="Hash of the last event checked")


def _iter_rows(session: Session, batch: int, after: int = 0) -> Iterator[Any]:
    """Stream the chain in sequence order after ``after``, a page at a time, as plain rows (not ORM-tracked)."""
    table = AuditEventRow.__table__
    while True:
        rows = session.execute(
            select(*table.c).where(table.c.sequence > after).order_by(table.c.sequence).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].sequence


def verify_audit_chain(session: Session, *, key: bytes, batch: int = 2000, max_problems: int = 100,
                       after_sequence: int = 0, after_hash: str = GENESIS_HASH) -> VerificationResult:
    """Recompute every hash and link; report edits, deletions, reordering and truncation.

    ``key`` is the audit key the chain was written with; with any other key
    every event is a ``hash_mismatch`` (so a wrong key is never silently "OK").

    ``after_sequence`` / ``after_hash`` start from a point already verified
    (an anchor): only the events after it are recomputed. That is sound only
    together with checking the anchor itself (``check_anchors``), which
    catches any rewrite up to it.
    """
    problems: list[VerificationProblem] = []
    previous_hash = after_hash
    expected = after_sequence + 1
    checked = 0
    last = after_sequence
    for row in _iter_rows(session, batch, after_sequence):
        checked += 1
        if row.sequence != expected:
            problems.append(VerificationProblem(
                sequence=row.sequence, kind="gap",
                detail=f"expected sequence {expected}, found {row.sequence}: events missing"))
        if row.previous_hash != previous_hash:
            problems.append(VerificationProblem(
                sequence=row.sequence, kind="broken_link",
                detail="previous_hash does not match the hash of the event before it"))
        try:
            recomputed = event_hash(_fields(row), row.previous_hash, key=key)
        except Exception as exc:  # a row edited into an invalid shape
            recomputed = f"invalid: {type(exc).__name__}"
        if recomputed != row.hash:
            problems.append(VerificationProblem(
                sequence=row.sequence, kind="hash_mismatch",
                detail="stored hash does not match the event's content under the audit key: the event "
                       "was altered, or was not written with this key"))
        previous_hash = row.hash
        expected = row.sequence + 1
        last = row.sequence
        if len(problems) >= max_problems:
            break
    head = session.execute(select(AuditHeadRow).where(AuditHeadRow.id == HEAD_ID)).scalar_one_or_none()
    head_sequence = head.sequence if head is not None else 0
    head_hash = head.hash if head is not None else GENESIS_HASH
    if len(problems) < max_problems and (head_sequence != last or head_hash != previous_hash):
        problems.append(VerificationProblem(
            sequence=head_sequence, kind="head_mismatch",
            detail=f"chain head records sequence {head_sequence} but the last event is {last}: "
                   "events were removed from the end or the head was altered"))
    return VerificationResult(ok=not problems, events_checked=checked, last_sequence=last,
                              head_sequence=head_sequence, problems=problems, last_hash=previous_hash)
