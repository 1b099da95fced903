"""Helpers for the closing-the-loop tests: receipt and alert deliveries, a decided referral."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from mashlink.broker.messages import Delivery
from mashlink.hub.models import OutcomeRow
from mashlink.hub.service import HubService
from mashlink.schemas.envelope import Envelope, MessageType
from tests.hub.hub_support import referral_data

SENT = datetime(2025, 6, 2, 11, tzinfo=timezone.utc)


def delivery(message_id: str, message_type: MessageType, body: dict[str, Any], *, sender: str,
             correlation_id: str = "REF-0001") -> Delivery:
    env = Envelope(message_id=message_id, correlation_id=correlation_id, message_type=message_type,
                   sender=sender, recipient="hub", sent_at=SENT, body=body)
    return Delivery(envelope=env, queue="events", redelivered=False, attempts=1)


def receipt_body(outcome: OutcomeRow, status: str, *, receipt_id: str, channel: str = "fhir-task",
                 detail: str = "", agency_id: str | None = None, at: datetime | None = None,
                 use_outcome_id: bool = True) -> dict[str, Any]:
    return {
        "receipt_id": receipt_id, "event_message_id": outcome.message_id, "event_type": "outcome",
        "referral_id": outcome.referral_id, "outcome_id": outcome.outcome_id if use_outcome_id else None,
        "agency_id": agency_id or outcome.recipient, "status": status, "channel": channel, "detail": detail,
        "at": (at or SENT).isoformat(),
    }


def receipt(outcome: OutcomeRow, status: str, *, receipt_id: str, sender: str | None = None,
            message_id: str | None = None, **kwargs: Any) -> Delivery:
    body = receipt_body(outcome, status, receipt_id=receipt_id, **kwargs)
    return delivery(message_id or f"m-{receipt_id}", MessageType.RECEIPT, body,
                    sender=sender or body["agency_id"], correlation_id=outcome.referral_id)


def decide(hub: HubService, referral_id: str = "REF-0001", *, notify: tuple[str, ...] = ("health-synth",
                                                                                       "police-synth"),
           outcome: str = "section_17", received_at: datetime | None = None, local_authority: str | None = None,
           submit: bool = True) -> dict[str, OutcomeRow]:
    """Submit (optionally) and decide a referral now; returns its outcome rows by recipient."""
    if submit:
        data = referral_data(referral_id, received_at=received_at)
        if local_authority:
            data["local_authority"] = local_authority
        hub.submit_referral(data)
    hub.record_decision({"decision_id": f"D-{referral_id}", "referral_id": referral_id, "outcome": outcome,
                         "rationale": "synthetic rationale", "decided_by": "manager-1",
                         "decided_at": hub.clock().isoformat(), "notify": list(notify)})
    return outcomes_of(hub, referral_id)


def outcomes_of(hub: HubService, referral_id: str) -> dict[str, OutcomeRow]:
    from sqlalchemy import select

    with hub.factory() as session:
        rows = session.execute(select(OutcomeRow).where(OutcomeRow.referral_id == referral_id)).scalars().all()
        for row in rows:
            session.expunge(row)
        return {r.recipient: r for r in rows}
