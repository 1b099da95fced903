"""Agency responses arriving on the hub's responses queue: a ``BatchHandler``.

A whole batch is processed in ONE transaction and only then are the verdicts
returned (the broker acks after), which is what makes hundreds of round
trips a second possible. Each message runs inside a savepoint: a message
that cannot be processed (malformed body, unknown enquiry, wrong sender) is
rolled back alone and REJECTed to the dead-letter queue with its reason,
while the rest of the batch is committed.

Idempotency: the message id goes into the inbox in the same transaction as
the effect, so a redelivered (or duplicated) message is acknowledged with no
second effect. Rejections are audited but not put in the inbox, so an
operator can replay a parked message once the cause is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from mashlink.broker.codec import describe_validation_error
from mashlink.broker.errors import RejectReason
from mashlink.broker.messages import Delivery, HandlerResult
from mashlink.hub.lifecycle import maybe_close_referral, schedule_escalation
from mashlink.hub.models import (
    EnquiryRow,
    EnquiryStatus,
    InboxRow,
    ResponseRow,
)
from mashlink.hub.unit import HubStore, UnitOfWork
from mashlink.schemas.enquiry import EnquiryResponse
from mashlink.schemas.envelope import Envelope, MessageType

HUB_ACTOR = "hub"


@dataclass
class _Reject(Exception):
    reason: RejectReason
    detail: str


def already_processed(uow: UnitOfWork, message_id: str) -> bool:
    return uow.session.get(InboxRow, message_id) is not None


def remember(uow: UnitOfWork, envelope: Envelope) -> None:
    uow.session.add(InboxRow(message_id=envelope.message_id, message_type=str(envelope.message_type),
                             processed_at=uow.now))


def _message_type(envelope: Envelope) -> str:
    mt = envelope.message_type
    return mt.value if isinstance(mt, MessageType) else str(mt)


def _parse(delivery: Delivery) -> EnquiryResponse:
    env = delivery.envelope
    if _message_type(env) != MessageType.ENQUIRY_RESPONSE.value:
        raise _Reject(RejectReason.UNKNOWN_MESSAGE_TYPE,
                      f"message_type {_message_type(env)!r}: the responses queue takes enquiry_response only")
    if isinstance(delivery.body, EnquiryResponse):
        response = delivery.body
    else:
        try:
            response = EnquiryResponse.model_validate(env.body)
        except ValidationError as exc:
            raise _Reject(RejectReason.INVALID_BODY,
                          "EnquiryResponse: " + describe_validation_error(exc, "body.")) from None
    if env.enquiry_id is not None and env.enquiry_id != response.enquiry_id:
        raise _Reject(RejectReason.INVALID_BODY, "body.enquiry_id differs from envelope.enquiry_id")
    if env.correlation_id != response.referral_id:
        raise _Reject(RejectReason.INVALID_BODY, "body.referral_id differs from envelope.correlation_id")
    if env.sender != response.agency_id:
        raise _Reject(RejectReason.INVALID_BODY, "body.agency_id differs from envelope.sender")
    return response


def _apply(uow: UnitOfWork, envelope: Envelope, response: EnquiryResponse) -> None:
    session = uow.session
    enquiry = session.get(EnquiryRow, response.enquiry_id, with_for_update=True)
    if enquiry is None:
        raise _Reject(RejectReason.INVALID_BODY, "body.enquiry_id: no such enquiry at this hub")
    if enquiry.referral_id != response.referral_id:
        raise _Reject(RejectReason.INVALID_BODY, "body.referral_id: the enquiry belongs to another referral")
    if enquiry.agency_id != response.agency_id:
        raise _Reject(RejectReason.INVALID_BODY, "body.agency_id: the enquiry was sent to another agency")
    if enquiry.agency_kind != response.agency_kind.value:
        raise _Reject(RejectReason.INVALID_BODY, "body.agency_kind differs from the enquiry's agency kind")
    session.add(ResponseRow(
        response_id=response.response_id, enquiry_id=response.enquiry_id, referral_id=response.referral_id,
        agency_id=response.agency_id, status=response.status.value, sequence=response.sequence,
        more_to_follow=response.more_to_follow, responded_at=response.responded_at, received_at=uow.now,
        message_id=envelope.message_id, body=response.model_dump(mode="json"),
    ))
    previous_status = enquiry.status
    late = response.sequence < enquiry.last_sequence  # an earlier part arriving after a later one
    if not late:
        enquiry.last_sequence = response.sequence
        enquiry.last_response_status = response.status.value
        if enquiry.status != EnquiryStatus.WITHDRAWN.value:
            if response.more_to_follow:
                if enquiry.status == EnquiryStatus.OPEN.value:
                    enquiry.status = EnquiryStatus.PARTIAL.value
            else:
                enquiry.status = EnquiryStatus.ANSWERED.value
                enquiry.answered_at = uow.now
        schedule_escalation(enquiry)
    remember(uow, envelope)
    uow.audit(
        "response.received", actor=response.agency_id, referral_id=response.referral_id,
        enquiry_id=response.enquiry_id, message_id=envelope.message_id,
        detail={
            "response_id": response.response_id, "status": response.status.value,
            "sequence": response.sequence, "more_to_follow": response.more_to_follow,
            "finding_count": len(response.findings), "match_count": len(response.matches),
            "enquiry_status": enquiry.status, "previous_enquiry_status": previous_status,
            "out_of_order": late,
        },
    )
    maybe_close_referral(uow, enquiry.referral_id, actor=HUB_ACTOR)


def handle_response_batch(store: HubStore, deliveries: list[Delivery]) -> list[HandlerResult]:
    """Process a batch in one transaction; one verdict per delivery, same order."""
    results: list[HandlerResult] = []
    with store.unit() as uow:
        for delivery in deliveries:
            results.append(_one(uow, delivery))
    return results


def _one(uow: UnitOfWork, delivery: Delivery) -> HandlerResult:
    env = delivery.envelope
    if already_processed(uow, env.message_id):
        return HandlerResult.ack()
    try:
        response = _parse(delivery)
        with uow.savepoint():
            _apply(uow, env, response)
    except _Reject as rejection:
        _audit_rejection(uow, env, rejection.reason, rejection.detail)
        return HandlerResult.reject(rejection.reason, rejection.detail)
    return HandlerResult.ack()


def _audit_rejection(uow: UnitOfWork, env: Envelope, reason: RejectReason, detail: str) -> None:
    uow.audit("message.rejected", actor=HUB_ACTOR, referral_id=None, enquiry_id=None,
              message_id=env.message_id,
              detail={"reason": reason.value, "message_type": _message_type(env), "sender": env.sender},
              reason=detail[:1000])

