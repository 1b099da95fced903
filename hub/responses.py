"""Agency responses arriving on the hub's responses queue: a ``BatchHandler``.

A whole batch is processed in ONE transaction and only then are the verdicts
returned (the broker acks after), which is what makes hundreds of round
trips a second possible. A message that cannot be processed (malformed
body, unknown enquiry, wrong sender) is found out by checks made before it
writes anything, so it is REJECTed to the dead-letter queue with its reason
(and an audit event) while the rest of the batch is committed; no
per-message savepoint (and the flush it forces) is needed. An unexpected
error rolls back the whole batch and the consumer retries its messages one
by one.

Idempotency: the message id goes into the inbox in the same transaction as
the effect, so a redelivered (or duplicated) message is acknowledged with no
second effect. Rejections are audited but not put in the inbox, so an
operator can replay a parked message once the cause is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from pydantic import ValidationError

from mashlink.broker.codec import describe_validation_error
from mashlink.broker.errors import RejectReason
from mashlink.broker.messages import Delivery, HandlerResult
from mashlink.hub.lifecycle import ACTIVE, maybe_close_referral, schedule_escalation
from mashlink.hub.models import (
    EnquiryRow,
    EnquiryStatus,
    InboxRow,
    ReferralRow,
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


def _check(enquiry: EnquiryRow | None, response: EnquiryResponse) -> EnquiryRow:
    """Every reason to reject, checked before anything is written (so a rejection writes nothing)."""
    if enquiry is None:
        raise _Reject(RejectReason.INVALID_BODY, "body.enquiry_id: no such enquiry at this hub")
    if enquiry.referral_id != response.referral_id:
        raise _Reject(RejectReason.INVALID_BODY, "body.referral_id: the enquiry belongs to another referral")
    if enquiry.agency_id != response.agency_id:
        raise _Reject(RejectReason.INVALID_BODY, "body.agency_id: the enquiry was sent to another agency")
    if enquiry.agency_kind != response.agency_kind.value:
        raise _Reject(RejectReason.INVALID_BODY, "body.agency_kind differs from the enquiry's agency kind")
    return enquiry


def _write(uow: UnitOfWork, envelope: Envelope, response: EnquiryResponse, enquiry: EnquiryRow) -> None:
    session = uow.session
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


class _BatchState:
    """What one batch reads up front, in three queries instead of several per message.

    The inbox ids already processed, the enquiries answered (locked ``FOR
    UPDATE`` on PostgreSQL, in id order so two hubs cannot deadlock) and
    their referrals (so closing a referral finds it in the session's identity
    map). Ids remembered during the batch are added to ``processed``, so a
    message delivered twice in one batch still has one effect.
    """

    def __init__(self, uow: UnitOfWork, message_ids: list[str], enquiry_ids: list[str]) -> None:
        session = uow.session
        self.processed: set[str] = set()
        self.enquiries: dict[str, EnquiryRow] = {}
        if message_ids:
            self.processed.update(session.execute(
                select(InboxRow.message_id).where(InboxRow.message_id.in_(sorted(set(message_ids))))
            ).scalars())
        if enquiry_ids:
            query = (select(EnquiryRow).where(EnquiryRow.enquiry_id.in_(sorted(set(enquiry_ids))))
                     .order_by(EnquiryRow.enquiry_id))
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update()
            self.enquiries = {e.enquiry_id: e for e in session.execute(query).scalars()}
            referral_ids = sorted({e.referral_id for e in self.enquiries.values()})
            if referral_ids:
                session.execute(select(ReferralRow).where(ReferralRow.referral_id.in_(referral_ids))).scalars().all()


def handle_response_batch(store: HubStore, deliveries: list[Delivery]) -> list[HandlerResult]:
    """Process a batch in one transaction; one verdict per delivery, same order.

    Messages are parsed first (no database work), the rows they need are
    read in three queries, each message is checked and written in order
    without a per-message flush or savepoint (a message is rejected before it
    writes anything), and referrals are closed at the end: only those whose
    enquiries are no longer active are looked at, in the order first answered.
    """
    results: list[HandlerResult | None] = [None] * len(deliveries)
    with store.unit() as uow:
        parsed: list[EnquiryResponse | _Reject] = []
        for delivery in deliveries:
            try:
                parsed.append(_parse(delivery))
            except _Reject as rejection:
                parsed.append(rejection)
        state = _BatchState(
            uow, [d.envelope.message_id for d in deliveries],
            [p.enquiry_id for p in parsed if isinstance(p, EnquiryResponse)],
        )
        touched: dict[str, None] = {}
        for i, (delivery, item) in enumerate(zip(deliveries, parsed, strict=True)):
            env = delivery.envelope
            if env.message_id in state.processed:
                results[i] = HandlerResult.ack()
                continue
            try:
                if isinstance(item, _Reject):
                    raise item
                enquiry = _check(state.enquiries.get(item.enquiry_id), item)
            except _Reject as rejection:
                _audit_rejection(uow, env, rejection.reason, rejection.detail)
                results[i] = HandlerResult.reject(rejection.reason, rejection.detail)
                continue
            _write(uow, env, item, enquiry)
            state.processed.add(env.message_id)
            touched[enquiry.referral_id] = None
            results[i] = HandlerResult.ack()
        if touched:
            _close_finished(uow, list(touched))
    return [r for r in results if r is not None]


def _close_finished(uow: UnitOfWork, referral_ids: list[str]) -> None:
    """``maybe_close_referral`` for each referral none of whose enquiries is still active.

    One query finds the referrals that still wait for an answer; the rest
    go through the shared lifecycle rule, which decides and audits the close.
    """
    still_active = set(uow.session.execute(
        select(EnquiryRow.referral_id)
        .where(EnquiryRow.referral_id.in_(sorted(set(referral_ids))), EnquiryRow.status.in_(ACTIVE))
        .distinct()
    ).scalars())
    for referral_id in referral_ids:
        if referral_id not in still_active:
            maybe_close_referral(uow, referral_id, actor=HUB_ACTOR)


def _audit_rejection(uow: UnitOfWork, env: Envelope, reason: RejectReason, detail: str) -> None:
    uow.audit("message.rejected", actor=HUB_ACTOR, referral_id=None, enquiry_id=None,
              message_id=env.message_id,
              detail={"reason": reason.value, "message_type": _message_type(env), "sender": env.sender},
              reason=detail[:1000])

