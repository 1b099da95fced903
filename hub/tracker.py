"""The deadline tracker: raise at-risk and overdue escalations from the database.

Nothing about deadlines lives in memory. Each open enquiry carries the time
of its next escalation in an indexed column; ``tick(now)`` takes the rows
whose time has come in batches (an index range scan, never the whole table,
so a million open enquiries cost no more than the few that are due), writes
an ``Escalation`` event to the outbox, marks the row and audits it, all in
one transaction per batch. A restarted hub therefore raises on its first tick
everything whose time passed while it was down. When an enquiry is found
already past its due time, only the overdue escalation is raised (an at-risk
warning for a deadline that has passed helps nobody).

Several hub instances on one PostgreSQL database: each batch transaction
first takes the cluster-wide advisory lock ``mashlink.deadline-tracker``
(``hub.db.try_cluster_lock``, per schema, without waiting). The hub that gets
it does the tick; the others find it held, raise nothing and look again a
moment later (``_STUCK_WAIT_S``), so a hub killed mid-tick (its transaction
rolled back, its lock released with its connection) is replaced within one
short wait and no deadline is missed. The batch is also taken ``FOR UPDATE
SKIP LOCKED``, a second guard: a row's escalation is raised once even if two
transactions ever overlapped. One tracker at a time also keeps two hubs from
each judging a referral still open because the other's overdue enquiry was
not committed yet. On SQLite nothing changes (one hub per file).
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime

import structlog
from sqlalchemy import func, select

from ..broker.topology import Topology
from .db import try_cluster_lock
from .envelopes import hub_envelope
from .lifecycle import ACTIVE, maybe_close_referral, schedule_escalation
from .loop import LoopTickCounts, next_loop_escalation_at, raise_loop_escalations
from .models import EnquiryRow, EnquiryStatus, EscalationRow, ReferralRow, ReferralStatus
from .results import TickResult
from .unit import Clock, HubStore, UnitOfWork
from ..schemas.codes import Rag
from ..schemas.envelope import MessageType
from ..schemas.events import Escalation, EscalationLevel

log = structlog.get_logger(__name__)
TRACKER_ACTOR = "hub.deadline-tracker"
#: The cluster-wide lock a tracker batch holds (PostgreSQL advisory lock, per schema).
TRACKER_LOCK = "mashlink.deadline-tracker"
#: Wake this long after the due time, so the tick surely sees the escalation as due.
_WAKE_SLACK_S = 0.002
#: Back-off when an escalation is due but another instance holds it.
_STUCK_WAIT_S = 0.05


class DeadlineTracker:
    def __init__(self, store: HubStore, topology: Topology, *, clock: Clock, batch_size: int = 500) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.store = store
        self.topology = topology
        self.clock = clock
        self.batch_size = batch_size
        #: What the last tick raised for decision deadlines and outcome acknowledgements.
        self.loop_counts = LoopTickCounts()

    def tick(self, now: datetime | None = None, *, max_batches: int | None = None) -> TickResult:
        """Raise every escalation due at ``now``; returns what was raised."""
        now = now or self.clock()
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        result = TickResult(at=now)
        batches = 0
        while max_batches is None or batches < max_batches:
            with self.store.unit(now) as uow:
                if not try_cluster_lock(uow.session, TRACKER_LOCK):
                    break  # another hub instance is ticking; it raises what is due
                raised = self._batch(uow, result)
            batches += 1
            if raised < self.batch_size:
                break
        self.loop_counts = self._loop_tick(now, max_batches)
        if result.raised:
            log.info("deadlines.escalated", at_risk=result.at_risk, overdue=result.overdue,
                     referrals_closed=result.referrals_closed)
        return result

    def _loop_tick(self, now: datetime, max_batches: int | None) -> LoopTickCounts:
        """Decision deadlines and outcome acknowledgement windows (``hub.loop``), under the same lock."""
        counts = LoopTickCounts()
        batches = 0
        while max_batches is None or batches < max_batches:
            with self.store.unit(now) as uow:
                if not try_cluster_lock(uow.session, TRACKER_LOCK):
                    break
                taken = raise_loop_escalations(uow, self.batch_size, counts)
            batches += 1
            if taken < self.batch_size:
                break
        if counts.raised:
            log.info("deadlines.loop_escalated", decision_at_risk=counts.decision_at_risk,
                     decision_overdue=counts.decision_overdue,
                     acknowledgement_at_risk=counts.acknowledgement_at_risk,
                     acknowledgement_overdue=counts.acknowledgement_overdue)
        return counts

    def _batch(self, uow: UnitOfWork, result: TickResult) -> int:
        session = uow.session
        query = (
            select(EnquiryRow)
            .where(EnquiryRow.next_escalation_at.is_not(None), EnquiryRow.next_escalation_at <= uow.now)
            .order_by(EnquiryRow.next_escalation_at)
            .limit(self.batch_size)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = session.execute(query).scalars().all()
        referrals: set[str] = set()
        for row in rows:
            level = EscalationLevel.OVERDUE if row.due_at <= uow.now else EscalationLevel.AT_RISK
            self._raise(uow, row, level)
            if level is EscalationLevel.OVERDUE:
                result.overdue += 1
                referrals.add(row.referral_id)
            else:
                result.at_risk += 1
        for referral_id in sorted(referrals | self._settled_but_open(uow)):
            if maybe_close_referral(uow, referral_id, actor=TRACKER_ACTOR):
                result.referrals_closed += 1
        return len(rows)

    def _settled_but_open(self, uow: UnitOfWork) -> set[str]:
        """Open referrals none of whose enquiries is still active: a safety net for any closure a race missed.

        The response handler closes a referral when its last answer arrives; this sweep (one indexed query a
        tick) closes any that were left open, so an answered referral never waits for a decision unseen.
        """
        active = select(EnquiryRow.referral_id).where(EnquiryRow.status.in_(ACTIVE))
        return set(uow.session.execute(
            select(ReferralRow.referral_id)
            .where(ReferralRow.status == ReferralStatus.OPEN.value, ReferralRow.referral_id.not_in(active),
                   ReferralRow.referral_id.in_(select(EnquiryRow.referral_id)))
            .limit(self.batch_size)
        ).scalars())

    def _raise(self, uow: UnitOfWork, row: EnquiryRow, level: EscalationLevel) -> None:
        escalation = Escalation(
            escalation_id=uuid.uuid4().hex, enquiry_id=row.enquiry_id, referral_id=row.referral_id,
            agency_id=row.agency_id, rag=Rag(row.rag), level=level, due_at=row.due_at, raised_at=uow.now,
        )
        env = hub_envelope(MessageType.ESCALATION, escalation, correlation_id=row.referral_id,
                           recipient=row.agency_id, sent_at=uow.now, enquiry_id=row.enquiry_id,
                           causation_id=row.message_id, rag=Rag(row.rag), due_at=row.due_at)
        uow.send(self.topology.event(env, f"escalation.{level.value}.{row.agency_id}"))
        uow.session.add(EscalationRow(
            escalation_id=escalation.escalation_id, enquiry_id=row.enquiry_id, referral_id=row.referral_id,
            agency_id=row.agency_id, rag=row.rag, level=level.value, due_at=row.due_at, raised_at=uow.now,
            message_id=env.message_id,
        ))
        if level is EscalationLevel.OVERDUE:
            row.overdue_raised_at = uow.now
            if row.at_risk_raised_at is None:
                row.at_risk_raised_at = uow.now  # passed while the hub was down: overdue supersedes it
            row.status = EnquiryStatus.OVERDUE.value
        else:
            row.at_risk_raised_at = uow.now
        schedule_escalation(row)
        uow.audit(f"escalation.{level.value}", actor=TRACKER_ACTOR, referral_id=row.referral_id,
                  enquiry_id=row.enquiry_id, message_id=env.message_id,
                  detail={"escalation_id": escalation.escalation_id, "agency_id": row.agency_id,
                          "rag": row.rag, "due_at": row.due_at.isoformat()})

    def next_escalation_at(self) -> datetime | None:
        """When the earliest pending escalation falls due (an index lookup), or None."""
        with self.store.read() as session:
            enquiries = session.execute(select(func.min(EnquiryRow.next_escalation_at))).scalar_one_or_none()
            loop = next_loop_escalation_at(session)
        present = [t for t in (enquiries, loop) if t is not None]
        return min(present) if present else None

    def _wait_s(self, interval_s: float) -> float:
        """Sleep until the next escalation falls due, but never longer than ``interval_s``.

        Waking exactly when something becomes due (rather than on the next
        fixed tick) keeps the lag from due time to escalation in the tens of
        milliseconds instead of up to a whole interval; the interval still
        bounds how late an escalation written by another process (a new
        enquiry, a re-rating) can be noticed.
        """
        upcoming = self.next_escalation_at()
        if upcoming is None:
            return interval_s
        delta = (upcoming - self.clock()).total_seconds()
        if delta <= 0:
            # Due but not taken (rows locked by another hub instance, or max_batches): do not spin.
            return min(interval_s, _STUCK_WAIT_S)
        return min(interval_s, delta + _WAKE_SLACK_S)

    def run(self, stop: threading.Event, *, interval_s: float = 5.0, error_wait_s: float = 5.0) -> None:
        """Tick when the next escalation is due (at least every ``interval_s``) until ``stop`` is set.

        Errors are logged, never fatal.
        """
        while not stop.is_set():
            try:
                self.tick()
                wait = self._wait_s(interval_s)
            except Exception:
                log.exception("deadlines.tick_error")
                stop.wait(error_wait_s)
                continue
            stop.wait(wait)
