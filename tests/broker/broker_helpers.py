"""Helpers for broker tests: synthetic envelopes and a scriptable handler."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from mashlink.broker import Delivery, HandlerResult, Verdict
from mashlink.schemas.codes import Rag
from mashlink.schemas.envelope import Envelope, MessageType

AGENCY = "police-synth"
KEYS = {"hub": b"hub-test-key-01234x56789", AGENCY: b"police-test-key-01234x56789"}


def enquiry_envelope(rag: Rag = Rag.GREEN, *, n: int = 0, sender: str = "hub", recipient: str = AGENCY) -> Envelope:
    """A valid, synthetic enquiry envelope (no real person)."""
    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    enquiry_id = f"enq-{uuid.uuid4().hex[:12]}"
    body = {
        "enquiry_id": enquiry_id,
        "referral_id": "ref-synthetic-1",
        "agency_id": recipient,
        "agency_kind": "police",
        "subjects": [{"person_id": f"p-{n}"}],
        "rag": rag.value,
        "requested_at": now.isoformat(),
        "due_at": (now + timedelta(hours=4)).isoformat(),
        "lawful_basis": ["children_act_2004_s11"],
        "requester": "mash-team-synthetic",
    }
    return Envelope(
        message_id=f"msg-{uuid.uuid4().hex}",
        correlation_id="ref-synthetic-1",
        enquiry_id=enquiry_id,
        message_type=MessageType.ENQUIRY,
        sender=sender,
        recipient=recipient,
        sent_at=now,
        due_at=now + timedelta(hours=4),
        rag=rag,
        body=body,
    )


@dataclass
class Recorder:
    """A batch handler that records what it saw and answers from a script."""

    verdicts: dict[str, list[Verdict]] = field(default_factory=dict)
    seen: list[Delivery] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)
    raise_for: set[str] = field(default_factory=set)

    def __call__(self, deliveries: list[Delivery]) -> list[HandlerResult]:
        self.batches.append(len(deliveries))
        for d in deliveries:
            if d.message_id in self.raise_for:
                raise RuntimeError("synthetic handler failure")
        results = []
        for d in deliveries:
            self.seen.append(d)
            script = self.verdicts.get(d.message_id)
            verdict = script.pop(0) if script else Verdict.ACK
            results.append(HandlerResult(verdict, None, "scripted" if verdict != Verdict.ACK else ""))
        return results

    def ids(self) -> list[str]:
        return [d.message_id for d in self.seen]
