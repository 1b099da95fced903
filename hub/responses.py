"""Agency responses arriving on the hub's responses queue: a batch route of ``handlers.RESPONSES``.

A whole batch is processed in ONE transaction (the dispatcher's, see
``hub.handlers``) and only then are the verdicts returned (the broker acks
after), which is what makes hundreds of round trips a second possible. A
message that cannot be processed (body and envelope disagree, unknown
enquiry, wrong sender) is found out by checks made before it writes
anything, so it is rejected (audited and parked by the dispatcher) while the
rest of the batch is committed; no per-message savepoint (and the flush it
forces) is needed. An unexpected error rolls back the whole batch and the
consumer retries its messages one by one.

Idempotency and decoding are the dispatcher's: a message id already in the
inbox never reaches :func:`on_responses`, and the inbox row of each accepted
response is written with the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from ..broker.errors import RejectReason
from .handlers import HUB_ACTOR, RESPONSES, Inbound, Rejected
from .lifecycle import closure_reason, schedule_escalation
from .models import (
    EnquiryRow,
    EnquiryStatus,
    ReferralRow,
    ReferralStatus,
    ResponseRow,
)
from .unit import UnitOfWork
from ..schemas.enquiry import EnquiryResponse
from ..schemas.envelope import MessageType


def _agrees(message: Inbound[EnquiryResponse]) -> Rejected | None:
    """The body must say what the (signed) envelope says: the same enquiry, referral and agency."""
    env, response = message.envelope, message.body
    if env.enquiry_id is not None and env.enquiry_id != response.enquiry_id:
        return Rejected(RejectReason.INVALID_BODY, "body.enquiry_id differs from envelope.enquiry_id")
    if env.correlation_id != response.referral_id:
        return Rejected(RejectReason.INVALID_BODY, "body.referral_id differs from envelope.correlation_id")
    if env.sender != response.agency_id:
        return Rejected(RejectReason.INVALID_BODY, "body.agency_id differs from envelope.sender")
    return None


def _check(enquiry: _Enquiry | None, response: EnquiryResponse) -> _Enquiry:
    """Every reason to reject, checked before anything is written (so a rejection writes nothing)."""
    if enquiry is None:
        raise Rejected(RejectReason.INVALID_BODY, "body.enquiry_id: no such enquiry at this hub")
    if enquiry.referral_id != response.referral_id:
        raise Rejected(RejectReason.INVALID_BODY, "body.referral_id: the enquiry belongs to another referral")
    if enquiry.agency_id != response.agency_id:
        raise Rejected(RejectReason.INVALID_BODY, "body.agency_id: the enquiry was sent to another agency")
    if enquiry.agency_kind != response.agency_kind.value:
        raise Rejected(RejectReason.INVALID_BODY, "body.agency_kind differs from the enquiry's agency kind")
    return enquiry


#: The enquiry columns a response reads or may change.
_ENQUIRY_COLUMNS = (
    "enquiry_id", "referral_id", "agency_id", "agency_kind", "status", "last_sequence", "last_response_status",
    "answered_at", "at_risk_at", "due_at", "at_risk_raised_at", "overdue_raised_at", "next_escalation_at",
    "next_escalation_level",
)
#: The enquiry columns a response may change (written back once per enquiry per batch).
_ENQUIRY_CHANGES = (
    "status", "last_sequence", "last_response_status", "answered_at", "next_escalation_at", "next_escalation_level",
)


@dataclass(slots=True, eq=False)
class _Enquiry:
    """An enquiry as the batch sees it: a plain row, changed in memory, written back in one UPDATE.

    It has the attributes :func:`schedule_escalation` and the checks use, so
    the same state rules apply as to an ORM ``EnquiryRow``.
    """

    enquiry_id: str
    referral_id: str
    agency_id: str
    agency_kind: str
    status: str
    last_sequence: int
    last_response_status: str | None
    answered_at: datetime | None
    at_risk_at: datetime
    due_at: datetime
    at_risk_raised_at: datetime | None
    overdue_raised_at: datetime | None
    next_escalation_at: datetime | None
    next_escalation_level: str | None
    changed: bool = False


class _BatchState:
    """What one batch reads up front (three queries) and writes back at the end (one statement per table).

    Reads: the status of the referrals and
    the enquiries answered (both locked ``FOR UPDATE`` on PostgreSQL,
    referrals first, each in id order, so two hubs cannot deadlock and the
    closure check sees the other hub's committed answers). Only the columns the rules use are
    read, as plain rows: the ORM's per-object bookkeeping (and decoding the
    JSON bodies) was most of the cost of a batch, and nothing else in the
    transaction reads these rows through the ORM.

    Writes: new response rows as one multi-row INSERT, the changed enquiries
    and closed referrals as one executemany UPDATE each (the dispatcher adds
    the inbox rows).
    """

    def __init__(self, uow: UnitOfWork, enquiry_ids: list[str]) -> None:
        session = uow.session
        self.enquiries: dict[str, _Enquiry] = {}
        self.referral_status: dict[str, str] = {}
        self.responses: list[dict[str, Any]] = []
        self.closed: list[dict[str, Any]] = []
        if enquiry_ids:
            table = EnquiryRow.__table__
            referrals = ReferralRow.__table__
            postgres = session.get_bind().dialect.name == "postgresql"
            wanted = sorted(set(enquiry_ids))
            # Referrals first, then enquiries, each in id order: the order re-rating and decisions lock them in,
            # so hubs cannot deadlock. Holding the referral lock means two hubs answering the last two enquiries
            # of one referral take turns, and the second sees the first's answer when it checks for closure.
            referral_ids = sorted(set(session.execute(
                select(table.c.referral_id).where(table.c.enquiry_id.in_(wanted))).scalars()))
            if referral_ids:
                status_query = (select(referrals.c.referral_id, referrals.c.status)
                                .where(referrals.c.referral_id.in_(referral_ids)).order_by(referrals.c.referral_id))
                if postgres:
                    status_query = status_query.with_for_update()
                self.referral_status = {referral_id: status
                                        for referral_id, status in session.execute(status_query)}
            query = (select(*(table.c[name] for name in _ENQUIRY_COLUMNS))
                     .where(table.c.enquiry_id.in_(wanted))
                     .order_by(table.c.enquiry_id))
            if postgres:
                query = query.with_for_update()
            self.enquiries = {row.enquiry_id: _Enquiry(*row) for row in session.execute(query)}

    def write_rows(self, uow: UnitOfWork) -> None:
        """New responses and the changed enquiries, before the close check reads them."""
        session = uow.session
        if self.responses:
            session.execute(insert(ResponseRow.__table__), self.responses)
        changed = [e for e in self.enquiries.values() if e.changed]
        if changed:
            table = EnquiryRow.__table__
            session.execute(
                update(table).where(table.c.enquiry_id == bindparam("b_enquiry_id"))
                .values({name: bindparam(f"b_{name}") for name in _ENQUIRY_CHANGES}),
                [{"b_enquiry_id": e.enquiry_id, **{f"b_{name}": getattr(e, name) for name in _ENQUIRY_CHANGES}}
                 for e in changed],
            )

    def write_closed(self, uow: UnitOfWork) -> None:
        if self.closed:
            table = ReferralRow.__table__
            uow.session.execute(
                update(table).where(table.c.referral_id == bindparam("b_referral_id"))
                .values(status=bindparam("b_status"), closed_at=bindparam("b_closed_at"),
                        closed_reason=bindparam("b_closed_reason")),
                self.closed,
            )


def _write(uow: UnitOfWork, state: _BatchState, message: Inbound[EnquiryResponse], enquiry: _Enquiry) -> None:
    envelope, response = message.envelope, message.body
    state.responses.append({
        "response_id": response.response_id, "enquiry_id": response.enquiry_id,
        "referral_id": response.referral_id, "agency_id": response.agency_id, "status": response.status.value,
        "sequence": response.sequence, "more_to_follow": response.more_to_follow,
        "responded_at": response.responded_at, "received_at": uow.now, "message_id": envelope.message_id,
        "body": response.model_dump(mode="json"),
    })
    previous_status = enquiry.status
    late = response.sequence < enquiry.last_sequence  # an earlier part arriving after a later one
    if not late:
        enquiry.changed = True
        enquiry.last_sequence = response.sequence
        enquiry.last_response_status = response.status.value
        if enquiry.status != EnquiryStatus.WITHDRAWN.value:
            if response.more_to_follow:
                if enquiry.status == EnquiryStatus.OPEN.value:
                    enquiry.status = EnquiryStatus.PARTIAL.value
            else:
                enquiry.status = EnquiryStatus.ANSWERED.value
                enquiry.answered_at = uow.now
        schedule_escalation(enquiry)  # type: ignore[arg-type]  # the EnquiryRow attributes it uses
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


@RESPONSES.handles_batch(MessageType.ENQUIRY_RESPONSE, EnquiryResponse)
def on_responses(_hub: object, uow: UnitOfWork, messages: list[Inbound[EnquiryResponse]]) -> list[Rejected | None]:
    """Apply a batch of responses in the dispatcher's transaction; one verdict per message, same order.

    The rows they need are read in three queries, each message is checked and
    applied in order without a per-message flush or savepoint (a message is
    rejected before it writes anything), the new response rows go in as one
    insert, and referrals are closed at the end: only those whose enquiries
    are no longer active, in the order first answered.
    """
    verdicts: list[Rejected | None] = [_agrees(m) for m in messages]
    state = _BatchState(uow, [m.body.enquiry_id for m, v in zip(messages, verdicts) if v is None])
    touched: dict[str, None] = {}
    for i, message in enumerate(messages):
        if verdicts[i] is not None:
            continue
        try:
            enquiry = _check(state.enquiries.get(message.body.enquiry_id), message.body)
        except Rejected as rejection:
            verdicts[i] = rejection
            continue
        _write(uow, state, message, enquiry)
        touched[enquiry.referral_id] = None
    state.write_rows(uow)
    if touched:
        _close_finished(uow, state, list(touched))
        state.write_closed(uow)
    return verdicts


def _close_finished(uow: UnitOfWork, state: _BatchState, referral_ids: list[str]) -> None:
    """Close each open referral none of whose enquiries is still active: the batch form of
    :func:`mashlink.hub.lifecycle.maybe_close_referral`, with the same rule and the same audit event.

    One query reads the status of every enquiry of the touched referrals
    (after the batch's own changes are written) instead of three queries
    per referral; the closes are queued on ``state`` and written in one
    statement.
    """
    statuses: dict[str, set[str]] = {referral_id: set() for referral_id in referral_ids}
    table = EnquiryRow.__table__
    for referral_id, status in uow.session.execute(
        select(table.c.referral_id, table.c.status).where(table.c.referral_id.in_(sorted(statuses)))
    ):
        statuses[referral_id].add(status)
    for referral_id in referral_ids:
        found = statuses[referral_id]
        reason = closure_reason(found)
        if state.referral_status.get(referral_id) != ReferralStatus.OPEN.value or reason is None:
            continue
        state.referral_status[referral_id] = ReferralStatus.CLOSED.value
        state.closed.append({"b_referral_id": referral_id, "b_status": ReferralStatus.CLOSED.value,
                             "b_closed_at": uow.now, "b_closed_reason": reason})
        uow.audit("referral.closed", actor=HUB_ACTOR, referral_id=referral_id,
                  detail={"reason": reason, "enquiry_statuses": sorted(found)})
