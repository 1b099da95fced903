"""What arrived on an agency's events queue, checked and reduced to what a recipient may see.

The hub publishes outcomes (``outcome.<agency>``), decisions
(``decision.<agency>``) and escalations (``escalation.<level>.<agency>``) to
the agency's events queue, and alerts about the agency when bound. An event
envelope must come from the hub and be addressed to this agency; anything
else is parked with the reason (never acknowledged without effect).

:class:`AgencyEvent` carries ids and codes only. A decision's ``rationale``
and an outcome's ``summary`` are dropped here: the rationale may quote other
agencies' findings, and the templates build the text from codes and the
MASH's contact details, so a template cannot leak what it was never given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from ...broker.codec import describe_validation_error
from ...broker.errors import RejectReason
from ...broker.messages import Delivery
from ...schemas.decision import Decision, Outcome
from ...schemas.envelope import MessageType
from ...schemas.events import Alert, Escalation

#: Event kinds this consumer delivers, by envelope message type value. ``withdrawal`` is accepted when
#: the hub sends one (an enquiry withdrawn before it was answered); its body carries referral_id and enquiry_id.
EVENT_KINDS = ("outcome", "decision", "escalation", "alert", "withdrawal")


class EventRejected(Exception):
    """This delivery is not an event for this agency: park it with ``reason``."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class AgencyEvent:
    """One event for one agency: ids, the kind, and the template facts (codes and dates only)."""

    message_id: str
    kind: str
    referral_id: str
    agency_id: str
    sent_at: datetime
    outcome_id: str | None = None
    enquiry_id: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)


def _body(delivery: Delivery, model: type[BaseModel]) -> Any:
    if isinstance(delivery.body, model):
        return delivery.body
    try:
        return model.model_validate(delivery.envelope.body)
    except ValidationError as exc:
        raise EventRejected(RejectReason.INVALID_BODY,
                            f"{model.__name__}: " + describe_validation_error(exc, "body.")) from None


def _withdrawal(delivery: Delivery) -> dict[str, Any]:
    body = delivery.envelope.body
    referral_id, enquiry_id = body.get("referral_id"), body.get("enquiry_id")
    for name, value in (("referral_id", referral_id), ("enquiry_id", enquiry_id)):
        if not isinstance(value, str) or not value.strip():
            raise EventRejected(RejectReason.INVALID_BODY, f"withdrawal: body.{name} is required (a string)")
    return {"referral_id": referral_id, "enquiry_id": enquiry_id}


def decode_event(delivery: Delivery, agency_id: str, hub_id: str) -> AgencyEvent:
    """The event in ``delivery``, or :class:`EventRejected` naming the field and rule."""
    env = delivery.envelope
    kind = env.message_type.value
    if kind not in EVENT_KINDS:
        raise EventRejected(RejectReason.UNKNOWN_MESSAGE_TYPE, f"message_type {kind} on an agency events queue")
    if env.sender != hub_id:
        raise EventRejected(RejectReason.PROCESSING_FAILURE,
                            f"envelope.sender must be the hub ({hub_id}) on an agency events queue")
    if kind != "alert" and env.recipient != agency_id:
        raise EventRejected(RejectReason.PROCESSING_FAILURE,
                            f"envelope.recipient is another agency, not {agency_id}")
    common = {"message_id": env.message_id, "kind": kind, "agency_id": agency_id, "sent_at": env.sent_at}
    if kind == MessageType.OUTCOME.value:
        outcome: Outcome = _body(delivery, Outcome)
        if outcome.recipient != agency_id:
            raise EventRejected(RejectReason.PROCESSING_FAILURE, f"body.recipient is not {agency_id}")
        return AgencyEvent(**common, referral_id=outcome.referral_id, outcome_id=outcome.outcome_id,
                           facts={"outcome": outcome.outcome.value, "decision_id": outcome.decision_id,
                                  "decided_at": outcome.sent_at})
    if kind == MessageType.DECISION.value:
        decision: Decision = _body(delivery, Decision)
        return AgencyEvent(**common, referral_id=decision.referral_id,
                           facts={"outcome": decision.outcome.value, "decision_id": decision.decision_id,
                                  "decided_at": decision.decided_at})
    if kind == MessageType.ESCALATION.value:
        esc: Escalation = _body(delivery, Escalation)
        if esc.agency_id != agency_id:
            raise EventRejected(RejectReason.PROCESSING_FAILURE, f"body.agency_id is not {agency_id}")
        return AgencyEvent(**common, referral_id=esc.referral_id, enquiry_id=esc.enquiry_id,
                           facts={"level": esc.level.value, "rag": esc.rag.value, "due_at": esc.due_at,
                                  "raised_at": esc.raised_at})
    if kind == MessageType.ALERT.value:
        alert: Alert = _body(delivery, Alert)
        return AgencyEvent(**common, referral_id=alert.referral_id or env.correlation_id,
                           enquiry_id=alert.enquiry_id,
                           facts={"alert_kind": alert.kind.value, "occurred_at": alert.occurred_at,
                                  "location": alert.location or "", "reporting_agency": alert.agency_id})
    ids = _withdrawal(delivery)
    return AgencyEvent(**common, referral_id=ids["referral_id"], enquiry_id=ids["enquiry_id"])

