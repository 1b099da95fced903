"""Dead letters as the hub's API and the CLI operate them: list, show (redacted or revealed), replay, discard.

``DeadLetters`` is what ``create_app`` takes: four calls over parked
messages. ``BrokerDeadLetters`` implements it over a broker factory (a
fresh broker per call, so it is safe from the API's worker threads and
holds no connection between requests). Auditing the *actions* is the
caller's job (``HubService.record_ops_action``); reading a *full body* is
recorded here, by ``record_body_read``, because it is a disclosure of
personal data: one ``record.read`` event with a disclosure row for the
sending agency (``hub.disclosures``) plus a ``dlq.body_read`` event naming
the message, in one unit of work.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from ..broker.errors import ParkedMessageNotFound, RejectReason
from ..broker.messages import ParkedMessage
from ..broker.redact import parked_metadata, redact_body
from ..config.security import Role
from .access import actor_of
from .auth.principal import Principal
from .disclosures import record_disclosure
from .models import ReferralRow
from .service import HubService

if TYPE_CHECKING:
    from ..broker.client import Broker

BODY_READ_ACTION = "dlq.body_read"
WHAT = "dlq_body"
MAX_ID = 64


class DeadLetterSummary(BaseModel):
    """A parked message without its body: what ops list (the detail is masked of value-like text)."""

    message_id: str
    queue: str = Field(description="The queue it was consumed from (where a replay sends it)")
    dlq: str
    reason: RejectReason
    detail: str = Field(default="", description="Why it was parked: field paths and rules, values masked")
    parked_at: datetime | None = None
    attempts: int = 0
    message_type: str | None = None
    original_exchange: str = ""
    original_routing_key: str = ""

    @classmethod
    def of(cls, parked: ParkedMessage) -> "DeadLetterSummary":
        return cls.model_validate(parked_metadata(parked))


class DeadLetterView(DeadLetterSummary):
    """One parked message with its body: redacted (ids, codes and metadata only) unless ``redacted`` is false."""

    redacted: bool
    body: Any = Field(description="Redacted: the envelope with personal values replaced by size markers; "
                                  "not JSON: length and sha256 only. Full (dlq.body_read): the body as parked.")

    @classmethod
    def redacted_of(cls, parked: ParkedMessage) -> "DeadLetterView":
        return cls(**DeadLetterSummary.of(parked).model_dump(), redacted=True, body=redact_body(parked.raw))

    @classmethod
    def full_of(cls, parked: ParkedMessage) -> "DeadLetterView":
        try:
            body: Any = json.loads(parked.raw)
        except ValueError:
            body = parked.raw
        return cls(**DeadLetterSummary.of(parked).model_dump(), redacted=False, body=body)


class DeadLetterActionRequest(BaseModel):
    """Why a parked message is replayed or discarded; who did it is the signed-in user."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000, pattern=r"\S")


class DeadLetterActionResult(BaseModel):
    message_id: str
    queue: str
    action: Literal["replayed", "discarded"]
    audit_event_id: str = Field(description="The dlq.replayed / dlq.discarded audit event")


class DeadLetters(Protocol):
    """Parked messages, for the API: nothing here audits; the routes do."""

    def list(self, queue: str | None = None) -> list[ParkedMessage]: ...

    def get(self, message_id: str) -> ParkedMessage | None: ...

    def replay(self, message_id: str) -> ParkedMessage:
        """Republish to the original queue; raises ``ParkedMessageNotFound``."""
        ...

    def discard(self, message_id: str) -> ParkedMessage:
        """Remove for good; raises ``ParkedMessageNotFound``."""
        ...


class BrokerDeadLetters:
    """``DeadLetters`` over a broker factory; each call opens, declares, acts and closes."""

    def __init__(self, broker_factory: Callable[[], "Broker"], agency_ids: Iterable[str],
                 *, limit: int = 1000) -> None:
        self.broker_factory = broker_factory
        self.agency_ids = list(agency_ids)
        self.limit = limit

    def _with(self, fn: Callable[["Broker"], Any]) -> Any:
        broker = self.broker_factory()
        try:
            broker.declare(self.agency_ids)
            return fn(broker)
        finally:
            broker.close()

    def list(self, queue: str | None = None) -> list[ParkedMessage]:
        return self._with(lambda b: b.dlq_list(queue, limit=self.limit))

    def get(self, message_id: str) -> ParkedMessage | None:
        return self._with(lambda b: b.dlq_get(message_id))

    def replay(self, message_id: str) -> ParkedMessage:
        return self._with(lambda b: b.dlq_replay(message_id))

    def discard(self, message_id: str) -> ParkedMessage:
        return self._with(lambda b: b.dlq_discard(message_id))


def envelope_fields(parked: ParkedMessage) -> dict[str, Any]:
    """The parked body as a JSON object, or {} when it is not one (nothing is verified here)."""
    try:
        data = json.loads(parked.raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def record_body_read(service: HubService, principal: Principal, role: Role, parked: ParkedMessage,
                     reason: str) -> None:
    """Record that ``principal`` (acting as ``role``) saw the full body of ``parked``, and why.

    The sending agency, when it is a configured agency, is the agency whose
    records were disclosed; the envelope's correlation id names the referral
    when the hub knows it.
    """
    if not reason or not reason.strip():
        raise ValueError("reason: required to read a parked message's full body")
    fields = envelope_fields(parked)
    sender = fields.get("sender")
    agencies = [sender] if isinstance(sender, str) and sender in {a.id for a in service.settings.agencies} else []
    body = fields.get("body") if isinstance(fields.get("body"), dict) else {}
    basis = body.get("lawful_basis") if isinstance(body.get("lawful_basis"), list) else []
    correlation = fields.get("correlation_id")
    actor = actor_of(principal)
    with service.store.unit() as uow:
        referral_id = correlation if (isinstance(correlation, str) and 0 < len(correlation) <= MAX_ID
                                      and uow.session.get(ReferralRow, correlation) is not None) else None
        uow.audit(BODY_READ_ACTION, actor=actor, referral_id=referral_id, message_id=parked.message_id[:MAX_ID],
                  detail={"role": role.value, "queue": parked.queue[:200], "parked_for": parked.reason.value,
                          "agencies_shown": agencies}, reason=reason.strip()[:2000])
        record_disclosure(uow, principal_subject=actor, principal_name=principal.display_name, role=role.value,
                          purpose=None, referral_id=referral_id, agencies=agencies, what=WHAT,
                          lawful_basis=[str(b) for b in basis if isinstance(b, str)][:20],
                          reason=reason.strip()[:2000])


def ops_reason(reason: str, parked: ParkedMessage) -> str:
    """The audit reason of a replay or discard: the operator's words, then the queue and why it was parked.

    One format for the API, the workspace and the CLI, because ``/metrics``
    (``hub.metrics.dead_letter_actions``) counts actions by queue and reason from it.
    """
    return f"{reason.strip()} (queue {parked.queue}, parked for {parked.reason.value})"


def act_on_dead_letter(service: HubService, store: DeadLetters, action: Literal["replayed", "discarded"],
                       message_id: str, reason: str, actor: str) -> DeadLetterActionResult:
    """Replay or discard one parked message, then audit it (``dlq.replayed`` / ``dlq.discarded``) as ``actor``.

    The one code path of the API routes and the workspace pages. The broker
    acts first (``ParkedMessageNotFound`` and broker errors pass through, and
    nothing is audited); the audit reason carries the queue and why it was parked.
    """
    act = store.replay if action == "replayed" else store.discard
    parked = act(message_id)
    event = service.record_ops_action(actor, f"dlq.{action}", parked.message_id, ops_reason(reason, parked))
    return DeadLetterActionResult(message_id=parked.message_id, queue=parked.queue, action=action,
                                  audit_event_id=event.event_id)


__all__ = ["BODY_READ_ACTION", "BrokerDeadLetters", "DeadLetterActionRequest", "DeadLetterActionResult",
           "DeadLetterSummary", "DeadLetterView", "DeadLetters", "ParkedMessageNotFound", "WHAT",
           "act_on_dead_letter", "envelope_fields", "ops_reason", "record_body_read"]
