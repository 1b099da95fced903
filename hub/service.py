"""``HubService``: the façade the API, the CLI and the demo use.

Every public method is one unit of work: validate first (nothing is stored
or sent on bad input), then change state, stage the messages it causes in the
outbox and append the audit events, all in one transaction. Publishing is the
outbox relay's job and deadlines are the tracker's (see ``HubRuntime``), so
this class never talks to the broker itself and can be used from any thread.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, and_, case, func, select

from ..broker.codec import EnvelopeCodec, describe_validation_error, settings_codec
from ..broker.errors import RejectReason
from ..broker.messages import Delivery, HandlerResult
from ..broker.topology import Topology
from ..config.deadlines import DeadlinePolicy
from ..config.loop import find_other_la
from ..config.settings import HUB_SENDER_ID, MashlinkSettings
from .alerts import AlertView, watch_reason
from .audit import VerificationResult, verify_audit_chain
from .audit_anchor import AuditAnchor, check_anchors, take_anchor
from .audit_key import audit_key_for
from .db import make_engine, session_factory, snapshot
from .envelopes import hub_envelope
from .errors import Conflict, InvalidInput, NotFound
from .lawful import check_lawful_basis
from .lifecycle import ACTIVE, schedule_escalation
from .linked_models import MatchConfirmation
from .loop import LoopPolicy, schedule_acknowledgement, schedule_decision
from .loop_views import LoopCounts, LoopFlags, ReferralLoop, loop_counts, referral_loop, worklist_flags
from .match_review import (
    CONFIRMED_ACTION,
    REJECTED_ACTION,
    MatchDecisionRecord,
    MatchDecisionRequest,
    current_row,
    link_problems,
    stored_decisions,
)
from .migrate import migrate_engine
from .minimise import minimise_people, withheld_fields
from .models import (
    OUTSTANDING,
    AlertRow,
    AuditEventRow,
    DecisionRow,
    EnquiryRow,
    EnquiryStatus,
    MatchDecisionRow,
    OutcomeRow,
    RagChangeRow,
    ReferralRow,
    ReferralStatus,
    ResponseRow,
)
from .outbox import OutboxRelay, Publisher
from .receipts import handle_receipt
from .tracker import DeadlineTracker
from .responses import already_processed, handle_response_batch, remember
from .results import (
    DecisionResult,
    EnquiryStatRow,
    EnquiryState,
    OpenEnquiryStats,
    OutcomeSent,
    ReferralStatus as ReferralStatusView,
    RerateResult,
    SentEnquiry,
    SubmitResult,
)
from .team_notify import TeamNotifier
from .unit import HubStore, UnitOfWork
from ..schemas.audit import AuditEvent
from ..schemas.codes import AgencyKind, OutcomeType, Rag
from ..schemas.decision import Decision, Outcome
from ..schemas.enquiry import Enquiry, EnquiryResponse
from ..schemas.envelope import MessageType
from ..schemas.events import Alert
from ..schemas.referral import RagChange, Referral

REFERRER = "referrer"
_ACTION_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


#: A received_at ahead of the hub's clock by more than this is recorded (``referral.received_at_in_future``);
#: a smaller lead is ordinary clock drift between the sender and the hub. Either way the decision clock
#: starts no later than the hub's now.
RECEIVED_AT_SKEW = timedelta(minutes=5)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def hub_codec(settings: MashlinkSettings, clock: Callable[[], datetime] = utcnow) -> EnvelopeCodec:
    """Signs as the hub (its private key only); verifies every sender's public keys; the hub's own are fresh."""
    return settings_codec(settings, signs_as=HUB_SENDER_ID, verifies=settings.signing_senders(),
                          trusted={HUB_SENDER_ID}, clock=clock)


def _outcome_label(value: str) -> str:
    return value.replace("_", " ")


class HubService:
    """The hub's use cases over one database."""

    def __init__(
        self,
        settings: MashlinkSettings,
        engine: Engine,
        *,
        topology: Topology | None = None,
        codec: EnvelopeCodec | None = None,
        clock: Callable[[], datetime] = utcnow,
        deadlines: DeadlinePolicy | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.topology = topology or Topology(settings.broker_namespace)
        self.codec = codec or hub_codec(settings, clock)
        self.clock = clock
        self.deadlines = deadlines or DeadlinePolicy.from_settings(settings)
        self.loop = LoopPolicy(settings.loop, self.deadlines.calendar)
        self.factory = session_factory(engine)
        self.store = HubStore(self.factory, self.codec, clock, audit_key=audit_key_for(settings))

    @classmethod
    def open(cls, settings: MashlinkSettings, *, schema: str | None = None, migrate: bool = True,
             **kwargs: Any) -> "HubService":
        """Create the engine from ``settings.database_url`` and bring the schema up to date."""
        settings.ensure_state_dir()
        engine = make_engine(settings.database_url, schema=schema)
        if migrate:
            migrate_engine(engine)
        return cls(settings, engine, **kwargs)

    def close(self) -> None:
        self.engine.dispose()

    def deadline_tracker(self, *, batch_size: int = 500) -> DeadlineTracker:
        return DeadlineTracker(self.store, self.topology, clock=self.clock, batch_size=batch_size)

    def outbox_relay(self, broker: Publisher, *, batch_size: int = 200) -> OutboxRelay:
        return OutboxRelay(self.factory, broker, self.codec, clock=self.clock, batch_size=batch_size)

    # ------------------------------------------------------------------ intake
    def submit_referral(self, referral: Referral | Mapping[str, Any], *,
                        agencies: Sequence[str] | None = None, actor: str = "mash") -> SubmitResult:
        """Validate, store, and fan out one minimised enquiry per agency (all enabled by default)."""
        referral = self._validate_referral(referral)
        targets = self._target_agencies(agencies)
        self._check_local_authority(referral)
        self._check_lawful_basis(referral, targets)
        with self.store.unit() as uow:
            if uow.session.get(ReferralRow, referral.referral_id) is not None:
                raise Conflict(f"referral {referral.referral_id!r} already exists")
            sent = self._store_referral(uow, referral, targets, actor)
        return SubmitResult(referral_id=referral.referral_id, rag=referral.rag, enquiries=sent)

    def _check_lawful_basis(self, referral: Referral, targets: Sequence[str]) -> None:
        """Refuse (422) a referral whose basis does not cover every agency it would ask, before anything is stored."""
        kinds = [self.settings.agency(agency_id).kind for agency_id in targets]
        problems = check_lawful_basis(referral, kinds, self.settings.lawful_basis_rules)
        if problems:
            raise InvalidInput("referral", problems)

    def _check_local_authority(self, referral: Referral) -> None:
        """Every child is accepted: one from a local authority this hub does not serve is flagged for transfer.

        Refusing a cross-border referral would leave a child with nobody deciding; instead the hub that
        received it works it under its own LA (``receiving_local_authority``) and records the child's home
        LA in ``referrals.transfer_to``, so the decision can be a ``transfer`` outcome with the other LA's
        contact details (``other_local_authorities``).
        """

    def transfer_target(self, referral: Referral) -> str | None:
        """The child's home LA when it is not one this hub serves (the referral is then for transfer)."""
        la = referral.local_authority
        if la in self.settings.rag or la == self.settings.local_authority.code:
            return None
        return la

    def receiving_local_authority(self, referral: Referral) -> str:
        """The LA whose MASH works the referral: the child's, or this hub's own for a cross-border child."""
        return referral.local_authority if self.transfer_target(referral) is None \
            else self.settings.local_authority.code

    def _store_referral(self, uow: UnitOfWork, referral: Referral, targets: Sequence[str],
                        actor: str) -> list[SentEnquiry]:
        """The referral, its RAG history, audit and one enquiry per target, in the caller's unit of work."""
        rag = referral.rag
        transfer_to = self.transfer_target(referral)
        receiving = self.receiving_local_authority(referral)
        # The decision clock starts when the referral was received, but never later than now: a received_at
        # in the future (a sender's clock, a typo) would otherwise push the deadline out and silence its
        # escalation. The referral keeps the sender's date; the discrepancy is recorded for the auditor.
        clock_from = min(referral.received_at, uow.now)
        decision_at_risk, decision_due = self.loop.decision_times(clock_from, receiving)
        referral_row = ReferralRow(
            referral_id=referral.referral_id, received_at=referral.received_at, submitted_at=uow.now,
            local_authority=receiving, rag=rag.value, status=ReferralStatus.OPEN.value,
            submitted_by=actor, body=referral.model_dump(mode="json"), transfer_to=transfer_to,
            decision_due_at=decision_due, decision_at_risk_at=decision_at_risk,
        )
        schedule_decision(referral_row)
        uow.session.add(referral_row)
        uow.session.flush()  # no ORM relationships: the parent row goes first explicitly
        ahead = referral.received_at - uow.now
        if ahead > RECEIVED_AT_SKEW:
            uow.audit("referral.received_at_in_future", actor=actor, referral_id=referral.referral_id, detail={
                "received_at": referral.received_at.isoformat(), "hub_time": uow.now.isoformat(),
                "ahead_s": int(ahead.total_seconds()), "decision_clock_from": clock_from.isoformat()})
        if transfer_to is not None:
            other = find_other_la(self.settings.other_local_authorities, transfer_to)
            uow.audit("referral.cross_border", actor=actor, referral_id=referral.referral_id, detail={
                "home_local_authority": transfer_to, "receiving_local_authority": receiving,
                "contact_configured": other is not None})
        for change in sorted(referral.rag_history, key=lambda c: c.at):
            uow.session.add(RagChangeRow(referral_id=referral.referral_id, rag=change.rag.value,
                                         at=change.at, by=change.by, reason=change.reason))
        uow.audit("referral.received", actor=actor, referral_id=referral.referral_id, detail={
            "rag": rag.value, "source": referral.source.value, "subject_count": len(referral.subjects),
            "household_count": len(referral.household), "concerns": [c.value for c in referral.concerns],
            "agencies": list(targets), "consent": referral.consent.status.value,
            "lawful_basis": [b.value for b in referral.lawful_basis], "purpose": referral.purpose.value,
            "decision_due_at": decision_due.isoformat(),
        })
        return [self._send_enquiry(uow, referral, agency_id, actor) for agency_id in targets]

    def _validate_referral(self, referral: Referral | Mapping[str, Any]) -> Referral:
        if isinstance(referral, Referral):
            return referral
        try:
            return Referral.model_validate(referral)
        except ValidationError as exc:
            raise InvalidInput("referral", [describe_validation_error(exc)]) from None

    def _target_agencies(self, agencies: Sequence[str] | None) -> list[str]:
        enabled = {a.id for a in self.settings.enabled_agencies()}
        if agencies is None:
            targets = [a.id for a in self.settings.enabled_agencies()]
        else:
            problems = []
            for i, agency_id in enumerate(agencies):
                if agency_id not in enabled:
                    known = ", ".join(sorted(enabled)) or "none"
                    problems.append(f"agencies[{i}]: {agency_id!r} is not an enabled agency (enabled: {known})")
            if problems:
                raise InvalidInput("referral", problems)
            targets = list(dict.fromkeys(agencies))
        if not targets:
            raise InvalidInput("referral", ["agencies: no enabled agency to send enquiries to"])
        return targets

    def _send_enquiry(self, uow: UnitOfWork, referral: Referral, agency_id: str, actor: str) -> SentEnquiry:
        agency = self.settings.agency(agency_id)
        policy = self.settings.policy_for(agency_id)
        people = [*referral.subjects, *referral.household]
        rag = referral.rag
        requested_at = uow.now
        due_at = self.deadlines.deadline_for(rag, requested_at, referral.local_authority
                                             if referral.local_authority in self.settings.rag else None)
        at_risk_at = self.deadlines.at_risk_at(rag, requested_at, referral.local_authority
                                               if referral.local_authority in self.settings.rag else None)
        consent = referral.consent
        consent_note = consent.status.value + (f": {consent.reason}" if consent.reason else "")
        if consent.decided_by:  # who took responsibility for sharing without consent travels with the enquiry
            consent_note += (f" (decided by {consent.decided_by}"
                             + (f" on {consent.decided_at:%Y-%m-%d}" if consent.decided_at else "")
                             + (f", authorised by {consent.authorised_by}" if consent.authorised_by else "") + ")")
        enquiry = Enquiry(
            enquiry_id=uuid.uuid4().hex, referral_id=referral.referral_id, agency_id=agency.id,
            agency_kind=agency.kind, subjects=minimise_people(people, policy),
            relationships=referral.relationships, concerns=[c.value for c in referral.concerns],
            questions=["What do you know about these people that is relevant to the safeguarding concern?"],
            rag=rag, requested_at=requested_at, due_at=due_at, lawful_basis=referral.lawful_basis,
            purpose=referral.purpose,
            consent_note=consent_note, requester=f"{self.settings.local_authority.name} MASH",
            classification=referral.classification,
        )
        env = hub_envelope(MessageType.ENQUIRY, enquiry, correlation_id=referral.referral_id,
                           recipient=agency.id, sent_at=uow.now, enquiry_id=enquiry.enquiry_id,
                           rag=rag, due_at=due_at)
        uow.send(self.topology.enquiry(env))
        row = EnquiryRow(
            enquiry_id=enquiry.enquiry_id, referral_id=referral.referral_id, agency_id=agency.id,
            agency_kind=agency.kind.value, rag=rag.value, status=EnquiryStatus.OPEN.value,
            requested_at=requested_at, due_at=due_at, at_risk_at=at_risk_at, last_sequence=0,
            message_id=env.message_id, body=enquiry.model_dump(mode="json"),
        )
        schedule_escalation(row)
        uow.session.add(row)
        withheld = sorted({f for p in people for f in withheld_fields(p, policy)})
        uow.audit("enquiry.sent", actor=actor, referral_id=referral.referral_id,
                  enquiry_id=enquiry.enquiry_id, message_id=env.message_id, detail={
                      "agency_id": agency.id, "agency_kind": agency.kind.value, "rag": rag.value,
                      "due_at": due_at.isoformat(), "subject_count": len(enquiry.subjects),
                      "withheld_fields": withheld,
                  })
        return SentEnquiry(enquiry_id=enquiry.enquiry_id, agency_id=agency.id, agency_kind=agency.kind,
                           rag=rag, requested_at=requested_at, due_at=due_at, at_risk_at=at_risk_at,
                           message_id=env.message_id, withheld_fields=withheld)

    # ------------------------------------------------------------------ re-rating
    def rerate(self, referral_id: str, rag: Rag | str, by: str, reason: str) -> RerateResult:
        """Record a new rating; outstanding enquiries get new deadlines and are re-sent on the new RAG queue."""
        try:
            change = RagChange(rag=rag, at=self.clock(), by=by, reason=reason)
        except ValidationError as exc:
            raise InvalidInput("re-rating", [describe_validation_error(exc)]) from None
        with self.store.unit(change.at) as uow:
            row = uow.session.get(ReferralRow, referral_id, with_for_update=True)
            if row is None:
                raise NotFound("referral", referral_id)
            if row.status != ReferralStatus.OPEN.value:
                raise Conflict(f"referral {referral_id!r} is {row.status}: only open referrals can be re-rated")
            previous = Rag(row.rag)
            referral = Referral.model_validate(row.body)
            referral = referral.model_copy(update={"rag_history": [*referral.rag_history, change]})
            row.body = referral.model_dump(mode="json")
            row.rag = change.rag.value
            uow.session.add(RagChangeRow(referral_id=referral_id, rag=change.rag.value, at=change.at,
                                         by=change.by, reason=change.reason))
            uow.audit("referral.rerated", actor=by, referral_id=referral_id,
                      detail={"previous_rag": previous.value, "rag": change.rag.value}, reason=reason or None)
            resent: list[SentEnquiry] = []
            if change.rag is not previous:
                enquiries = uow.session.execute(
                    select(EnquiryRow).where(EnquiryRow.referral_id == referral_id,
                                             EnquiryRow.status.in_(OUTSTANDING))
                    .order_by(EnquiryRow.agency_id).with_for_update()
                ).scalars().all()
                for enquiry_row in enquiries:
                    resent.append(self._resend(uow, enquiry_row, change, by, row.local_authority))
        return RerateResult(referral_id=referral_id, previous_rag=previous, rag=change.rag, resent=resent)

    def _resend(self, uow: UnitOfWork, row: EnquiryRow, change: RagChange, by: str, la: str) -> SentEnquiry:
        la_code = la if la in self.settings.rag else None
        previous_rag, previous_message = row.rag, row.message_id
        due_at = self.deadlines.deadline_for(change.rag, row.requested_at, la_code)
        at_risk_at = self.deadlines.at_risk_at(change.rag, row.requested_at, la_code)
        enquiry = Enquiry.model_validate(row.body).model_copy(update={"rag": change.rag, "due_at": due_at})
        env = hub_envelope(MessageType.ENQUIRY, enquiry, correlation_id=row.referral_id,
                           recipient=row.agency_id, sent_at=uow.now, enquiry_id=row.enquiry_id,
                           causation_id=previous_message, rag=change.rag, due_at=due_at)
        uow.send(self.topology.enquiry(env))
        row.rag, row.due_at, row.at_risk_at = change.rag.value, due_at, at_risk_at
        row.message_id, row.body = env.message_id, enquiry.model_dump(mode="json")
        if row.status == EnquiryStatus.OVERDUE.value:
            row.status = EnquiryStatus.PARTIAL.value if row.last_sequence else EnquiryStatus.OPEN.value
        row.at_risk_raised_at = row.overdue_raised_at = None  # a new deadline: escalate against it afresh
        schedule_escalation(row)
        uow.audit("enquiry.resent", actor=by, referral_id=row.referral_id, enquiry_id=row.enquiry_id,
                  message_id=env.message_id, detail={
                      "agency_id": row.agency_id, "previous_rag": previous_rag, "rag": change.rag.value,
                      "due_at": due_at.isoformat(), "previous_message_id": previous_message,
                  })
        return SentEnquiry(enquiry_id=row.enquiry_id, agency_id=row.agency_id,
                           agency_kind=AgencyKind(row.agency_kind), rag=change.rag,
                           requested_at=row.requested_at, due_at=due_at, at_risk_at=at_risk_at,
                           message_id=env.message_id)

    # ------------------------------------------------------------------ decision & outcomes
    def record_decision(self, decision: Decision | Mapping[str, Any], *, actor: str | None = None) -> DecisionResult:
        """Record the MASH decision; tell the referrer and each contributing agency (one Outcome each)."""
        if not isinstance(decision, Decision):
            try:
                decision = Decision.model_validate(decision)
            except ValidationError as exc:
                raise InvalidInput("decision", [describe_validation_error(exc)]) from None
        actor = actor or decision.decided_by
        known_agencies = {a.id for a in self.settings.agencies}
        problems = [f"notify[{i}]: {who!r} is neither 'referrer' nor a configured agency id"
                    for i, who in enumerate(decision.notify) if who != REFERRER and who not in known_agencies]
        if problems:
            raise InvalidInput("decision", problems)
        with self.store.unit() as uow:
            session = uow.session
            referral_row = session.get(ReferralRow, decision.referral_id, with_for_update=True)
            if referral_row is None:
                raise NotFound("referral", decision.referral_id)
            if decision.outcome is OutcomeType.TRANSFER and referral_row.transfer_to is None:
                raise InvalidInput("decision", [
                    "outcome: transfer is for a child whose home local authority is not served by this hub; "
                    f"this referral's child is in {referral_row.local_authority!r}"])
            if referral_row.status == ReferralStatus.DECIDED.value:
                raise Conflict(f"referral {decision.referral_id!r} already has a decision")
            if session.get(DecisionRow, decision.decision_id) is not None:
                raise Conflict(f"decision id {decision.decision_id!r} is already used")
            session.add(DecisionRow(
                decision_id=decision.decision_id, referral_id=decision.referral_id,
                outcome=decision.outcome.value, decided_by=decision.decided_by, decided_at=decision.decided_at,
                recorded_at=uow.now, body=decision.model_dump(mode="json"),
            ))
            session.flush()
            due = referral_row.decision_due_at
            uow.audit("decision.recorded", actor=actor, referral_id=decision.referral_id,
                      detail={"decision_id": decision.decision_id, "outcome": decision.outcome.value,
                              "previous_status": referral_row.status,
                              "decision_due_at": due.isoformat() if due else None,
                              "late": bool(due and uow.now > due),
                              "transfer_to": referral_row.transfer_to})
            withdrawn = self._withdraw_outstanding(uow, decision.referral_id, actor)
            contributors = sorted(set(session.execute(
                select(ResponseRow.agency_id).where(ResponseRow.referral_id == decision.referral_id)
            ).scalars()))
            recipients = list(dict.fromkeys([REFERRER, *contributors, *decision.notify]))
            referral = Referral.model_validate(referral_row.body)
            outcomes = [self._send_outcome(uow, decision, referral, who, actor, referral_row)
                        for who in recipients]
            referral_row.status = ReferralStatus.DECIDED.value
            schedule_decision(referral_row)  # decided: no more decision-deadline escalations
            if referral_row.closed_at is None:
                referral_row.closed_at, referral_row.closed_reason = uow.now, "decided"
        return DecisionResult(decision_id=decision.decision_id, referral_id=decision.referral_id,
                              outcome=decision.outcome, outcomes=outcomes, withdrawn_enquiries=withdrawn)

    def _withdraw_outstanding(self, uow: UnitOfWork, referral_id: str, actor: str) -> list[str]:
        rows = uow.session.execute(
            select(EnquiryRow).where(EnquiryRow.referral_id == referral_id, EnquiryRow.status.in_(OUTSTANDING))
            .with_for_update()
        ).scalars().all()
        for row in rows:
            previous = row.status
            row.status = EnquiryStatus.WITHDRAWN.value
            schedule_escalation(row)
            uow.audit("enquiry.withdrawn", actor=actor, referral_id=referral_id, enquiry_id=row.enquiry_id,
                      detail={"agency_id": row.agency_id, "previous_status": previous})
        return [r.enquiry_id for r in rows]

    def transfer_contact(self, la_code: str) -> str:
        """How to reach a neighbouring LA's front door, from ``other_local_authorities`` (or say it is missing)."""
        other = find_other_la(self.settings.other_local_authorities, la_code)
        if other is None:
            return (f"local authority {la_code}: no contact details configured (other_local_authorities); "
                    "the MASH will arrange the transfer")
        return other.contact_line()

    def _send_outcome(self, uow: UnitOfWork, decision: Decision, referral: Referral, who: str,
                      actor: str, referral_row: ReferralRow | None = None) -> OutcomeSent:
        # Minimised: the outcome and its date only; the rationale may quote other agencies' findings.
        summary = (f"MASH decision on referral {decision.referral_id}: "
                   f"{_outcome_label(decision.outcome.value)} ({decision.decided_at:%Y-%m-%d}).")
        if decision.outcome is OutcomeType.TRANSFER and referral_row is not None and referral_row.transfer_to:
            summary += f" Transferred to the child's home local authority: {self.transfer_contact(referral_row.transfer_to)}."
        outcome = Outcome(
            outcome_id=uuid.uuid4().hex, referral_id=decision.referral_id, decision_id=decision.decision_id,
            outcome=decision.outcome, recipient=referral.referrer if who == REFERRER else who,
            summary=summary[:4000], sent_at=uow.now,
        )
        routing_key = f"outcome.{who}"
        env = hub_envelope(MessageType.OUTCOME, outcome, correlation_id=decision.referral_id, recipient=who,
                           sent_at=uow.now)
        uow.send(self.topology.event(env, routing_key))
        la = referral_row.local_authority if referral_row is not None else None
        ack_at_risk, ack_due = self.loop.acknowledgement_times(uow.now, la)
        outcome_row = OutcomeRow(outcome_id=outcome.outcome_id, decision_id=decision.decision_id,
                                 referral_id=decision.referral_id, recipient=who, routing_key=routing_key,
                                 message_id=env.message_id, sent_at=uow.now,
                                 body=outcome.model_dump(mode="json"), delivery_status="sent",
                                 ack_at_risk_at=ack_at_risk, ack_due_at=ack_due)
        schedule_acknowledgement(outcome_row)
        uow.session.add(outcome_row)
        uow.audit("outcome.sent", actor=actor, referral_id=decision.referral_id, message_id=env.message_id,
                  detail={"outcome_id": outcome.outcome_id, "recipient": who,
                          "outcome": decision.outcome.value, "decision_id": decision.decision_id})
        return OutcomeSent(outcome_id=outcome.outcome_id, recipient=who, routing_key=routing_key,
                           message_id=env.message_id)

    # ------------------------------------------------------------------ consumers
    def handle_responses(self, deliveries: list[Delivery]) -> list[HandlerResult]:
        """BatchHandler for the responses queue (one transaction per batch)."""
        return handle_response_batch(self.store, deliveries)

    def handle_events(self, deliveries: list[Delivery]) -> list[HandlerResult]:
        """BatchHandler for the hub's events queue: alerts are stored and audited; agencies' referrals fanned out."""
        results: list[HandlerResult] = []
        with self.store.unit() as uow:
            for delivery in deliveries:
                results.append(self._one_event(uow, delivery))
        return results

    def _referral_event(self, uow: UnitOfWork, delivery: Delivery) -> HandlerResult:
        """A referral sent by a partner agency's connector (e.g. a police CCTN / PPN), fanned out like any other.

        The sender is authenticated by the envelope signature and must be a
        configured agency; the referral is stored, audited and its enquiries
        queued in this unit of work, so it is durable when the message is
        acked. A referral id that already exists (the agency sent the same
        notice again) has one effect: it is acknowledged and audited as a
        duplicate, never stored twice.
        """
        env = delivery.envelope

        def reject(reason: RejectReason, detail: str) -> HandlerResult:
            uow.audit("message.rejected", actor="hub", message_id=env.message_id,
                      detail={"reason": reason.value, "message_type": MessageType.REFERRAL.value,
                              "sender": env.sender}, reason=detail)
            return HandlerResult.reject(reason, detail)

        if env.sender not in {a.id for a in self.settings.agencies}:
            return reject(RejectReason.PROCESSING_FAILURE, f"sender {env.sender!r} is not a configured agency")
        try:
            referral = delivery.body if isinstance(delivery.body, Referral) else Referral.model_validate(env.body)
            self._check_local_authority(referral)
            targets = self._target_agencies(None)
            self._check_lawful_basis(referral, targets)
        except ValidationError as exc:
            return reject(RejectReason.INVALID_BODY, "Referral: " + describe_validation_error(exc, "body."))
        except InvalidInput as exc:
            return reject(RejectReason.INVALID_BODY, str(exc))
        with uow.savepoint():
            if uow.session.get(ReferralRow, referral.referral_id) is None:
                self._store_referral(uow, referral, targets, actor=env.sender)
            else:
                uow.audit("referral.duplicate", actor=env.sender, referral_id=referral.referral_id,
                          message_id=env.message_id, detail={"sender": env.sender})
            remember(uow, env)
        return HandlerResult.ack()

    def _one_event(self, uow: UnitOfWork, delivery: Delivery) -> HandlerResult:
        env = delivery.envelope
        if env.sender == HUB_SENDER_ID and env.message_type != MessageType.RECEIPT:
            # The hub's own events (outcomes, escalations) echoed back. A receipt is never the hub's own:
            # signed with the hub key it comes from the referrer notifier (see hub.receipts).
            return HandlerResult.ack()
        if already_processed(uow, env.message_id):
            return HandlerResult.ack()
        mt = env.message_type.value if isinstance(env.message_type, MessageType) else str(env.message_type)
        if mt == MessageType.REFERRAL.value:
            return self._referral_event(uow, delivery)
        if mt == MessageType.RECEIPT.value:
            return handle_receipt(uow, delivery, agencies={a.id for a in self.settings.agencies}, policy=self.loop)
        if mt != MessageType.ALERT.value:
            detail = f"message_type {mt!r}: the hub events queue takes alerts, receipts and referrals only"
            uow.audit("message.rejected", actor="hub", message_id=env.message_id,
                      detail={"reason": RejectReason.UNKNOWN_MESSAGE_TYPE.value, "message_type": mt,
                              "sender": env.sender}, reason=detail)
            return HandlerResult.reject(RejectReason.UNKNOWN_MESSAGE_TYPE, detail)
        try:
            alert = delivery.body if isinstance(delivery.body, Alert) else Alert.model_validate(env.body)
            if alert.agency_id != env.sender:
                raise ValueError("body.agency_id differs from envelope.sender")
        except (ValidationError, ValueError) as exc:
            detail = ("Alert: " + describe_validation_error(exc, "body.")) if isinstance(exc, ValidationError) \
                else str(exc)
            uow.audit("message.rejected", actor="hub", message_id=env.message_id,
                      detail={"reason": RejectReason.INVALID_BODY.value, "message_type": mt,
                              "sender": env.sender}, reason=detail)
            return HandlerResult.reject(RejectReason.INVALID_BODY, detail)
        with uow.savepoint():
            if uow.session.get(AlertRow, alert.alert_id) is None:
                referral_row = uow.session.get(ReferralRow, alert.referral_id) if alert.referral_id else None
                reason = watch_reason(alert, referral_row)
                uow.session.add(AlertRow(
                    alert_id=alert.alert_id, message_id=env.message_id, kind=alert.kind.value,
                    agency_id=alert.agency_id, referral_id=alert.referral_id, enquiry_id=alert.enquiry_id,
                    occurred_at=alert.occurred_at, received_at=uow.now, body=alert.model_dump(mode="json"),
                    watched_because=reason,
                    team_la=referral_row.local_authority if referral_row is not None
                    else self.settings.local_authority.code,
                ))
                uow.audit("alert.received", actor=alert.agency_id, referral_id=alert.referral_id,
                          enquiry_id=alert.enquiry_id, message_id=env.message_id,
                          detail={"alert_id": alert.alert_id, "kind": alert.kind.value,
                                  "agency_kind": alert.agency_kind.value, "person_ref": alert.person_ref,
                                  "location": alert.location, "watched_because": reason})
            remember(uow, env)
        return HandlerResult.ack()

    # ------------------------------------------------------------------ reading
    def referral(self, referral_id: str) -> Referral:
        with self.store.read() as session:
            row = session.get(ReferralRow, referral_id)
            if row is None:
                raise NotFound("referral", referral_id)
            return Referral.model_validate(row.body)

    def referral_status(self, referral_id: str) -> ReferralStatusView:
        with self.store.read() as session:
            row = session.get(ReferralRow, referral_id)
            if row is None:
                raise NotFound("referral", referral_id)
            counts = dict(session.execute(
                select(ResponseRow.enquiry_id, func.count()).where(ResponseRow.referral_id == referral_id)
                .group_by(ResponseRow.enquiry_id)
            ).all())
            enquiries = session.execute(
                select(EnquiryRow).where(EnquiryRow.referral_id == referral_id).order_by(EnquiryRow.agency_id)
            ).scalars().all()
            decision_row = session.execute(
                select(DecisionRow).where(DecisionRow.referral_id == referral_id)
            ).scalar_one_or_none()
            history = session.execute(
                select(RagChangeRow).where(RagChangeRow.referral_id == referral_id).order_by(RagChangeRow.at,
                                                                                              RagChangeRow.id)
            ).scalars().all()
            return ReferralStatusView(
                referral_id=row.referral_id, status=row.status, rag=Rag(row.rag), received_at=row.received_at,
                submitted_at=row.submitted_at, closed_at=row.closed_at, closed_reason=row.closed_reason,
                rag_history=[RagChange(rag=h.rag, at=h.at, by=h.by, reason=h.reason) for h in history],
                enquiries=[EnquiryState(
                    enquiry_id=e.enquiry_id, agency_id=e.agency_id, agency_kind=AgencyKind(e.agency_kind),
                    rag=Rag(e.rag), status=e.status, last_response_status=e.last_response_status,
                    responses=counts.get(e.enquiry_id, 0), requested_at=e.requested_at, due_at=e.due_at,
                    at_risk_at=e.at_risk_at, answered_at=e.answered_at, at_risk_raised_at=e.at_risk_raised_at,
                    overdue_raised_at=e.overdue_raised_at) for e in enquiries],
                decision=Decision.model_validate(decision_row.body) if decision_row else None,
            )

    def responses(self, referral_id: str) -> list[EnquiryResponse]:
        """Every response received for a referral, follow-ups included, in sequence order per enquiry."""
        with self.store.read() as session:
            rows = session.execute(
                select(ResponseRow).where(ResponseRow.referral_id == referral_id)
                .order_by(ResponseRow.agency_id, ResponseRow.enquiry_id, ResponseRow.sequence, ResponseRow.id)
            ).scalars().all()
            return [EnquiryResponse.model_validate(r.body) for r in rows]

    def enquiries(self, referral_id: str) -> list[Enquiry]:
        """The enquiries as last sent (after any re-rating)."""
        with self.store.read() as session:
            rows = session.execute(
                select(EnquiryRow).where(EnquiryRow.referral_id == referral_id).order_by(EnquiryRow.agency_id)
            ).scalars().all()
            return [Enquiry.model_validate(r.body) for r in rows]

    def linked_view(self, referral_id: str, now: datetime | None = None) -> Any:
        """The linked view (``mashlink.hub.linked_view.build_linked_view``) of one referral."""
        from .linked_view import build_linked_view

        now = now or self.clock()
        with self.store.read() as session:
            row = session.get(ReferralRow, referral_id)
            if row is None:
                raise NotFound("referral", referral_id)
            referral = Referral.model_validate(row.body)
            enquiry_rows = session.execute(
                select(EnquiryRow).where(EnquiryRow.referral_id == referral_id).order_by(EnquiryRow.agency_id)
            ).scalars().all()
            response_rows = session.execute(
                select(ResponseRow).where(ResponseRow.referral_id == referral_id)
                .order_by(ResponseRow.sequence, ResponseRow.id)
            ).scalars().all()
            enquiries = [Enquiry.model_validate(e.body) for e in enquiry_rows]
            responses = [EnquiryResponse.model_validate(r.body) for r in response_rows]
            overdue = {e.agency_id for e in enquiry_rows
                       if e.status == EnquiryStatus.OVERDUE.value
                       or (e.status in ACTIVE and e.due_at <= now)}
        return build_linked_view(referral, enquiries, responses, now=now, overdue=overdue,
                                 confirmations=self._match_confirmations(referral_id))

    # ------------------------------------------------------------------ match review
    def decide_match(self, referral_id: str, decision: MatchDecisionRequest | Mapping[str, Any], *,
                     actor: str) -> MatchConfirmation:
        """A person confirms or rejects one agency record link; the linked view applies it at once.

        The link must be one the linked view holds for that referral person
        (as a match, a candidate or a rejected claim); otherwise InvalidInput
        names the field that does not fit. A later decision on the same key
        (subject, agency, system, record) supersedes the earlier, and both
        stay on record. A decided referral still takes decisions: a wrong
        link found after the MASH decision (another family's records in this
        child's chronology) must be correctable, and the audit trail shows
        the correction came after the decision.
        """
        request = self._validate_match_decision(decision, actor)
        problems = link_problems(self.linked_view(referral_id), request)  # NotFound for an unknown referral
        if problems:
            raise InvalidInput("match decision", problems)
        with self.store.unit() as uow:
            # Lock the referral: two people deciding on one key at once leave one current decision.
            if uow.session.get(ReferralRow, referral_id, with_for_update=True) is None:
                raise NotFound("referral", referral_id)
            previous = current_row(uow.session, referral_id, request)
            row = MatchDecisionRow(
                referral_id=referral_id, subject_person_id=request.subject_person_id,
                agency_id=request.agency_id, source_system=request.source_system, record_id=request.record_id,
                confirmed=request.confirmed, reason=request.reason, decided_by=actor, decided_at=uow.now,
            )
            uow.session.add(row)
            uow.session.flush()
            if previous is not None:
                previous.superseded_by = row.id
            uow.audit(CONFIRMED_ACTION if request.confirmed else REJECTED_ACTION, actor=actor,
                      referral_id=referral_id, reason=request.reason, detail={
                          "subject_person_id": request.subject_person_id, "agency_id": request.agency_id,
                          "source_system": request.source_system, "record_id": request.record_id,
                          "match_decision_id": row.id, "supersedes": previous.id if previous else None,
                      })
            stored = MatchDecisionRecord.model_validate(row)
        return stored.confirmation()

    def _validate_match_decision(self, decision: MatchDecisionRequest | Mapping[str, Any],
                                 actor: str) -> MatchDecisionRequest:
        problems = []
        if not (actor or "").strip():
            problems.append("actor: required (who decided is recorded)")
        elif len(actor) > 200:
            problems.append(f"actor: at most 200 characters (got {len(actor)})")
        try:
            request = decision if isinstance(decision, MatchDecisionRequest) \
                else MatchDecisionRequest.model_validate(decision)
        except ValidationError as exc:
            problems.append(describe_validation_error(exc))
        if problems:
            raise InvalidInput("match decision", problems)
        return request

    def match_decisions(self, referral_id: str) -> list[MatchDecisionRecord]:
        """Every decision on the referral's record links, superseded ones included, oldest first."""
        with self.store.read() as session:
            if session.get(ReferralRow, referral_id) is None:
                raise NotFound("referral", referral_id)
            return stored_decisions(session, referral_id)

    def _match_confirmations(self, referral_id: str) -> list[MatchConfirmation]:
        """The decisions in force (not superseded), as the linked view builder takes them."""
        with self.store.read() as session:
            return [d.confirmation() for d in stored_decisions(session, referral_id, current_only=True)]

    def open_enquiry_stats(self, now: datetime | None = None) -> OpenEnquiryStats:
        """Outstanding enquiries by agency and RAG, with how many are at risk and overdue at ``now``."""
        now = now or self.clock()
        at_risk = case((and_(EnquiryRow.at_risk_at <= now, EnquiryRow.due_at > now), 1), else_=0)
        overdue = case((EnquiryRow.due_at <= now, 1), else_=0)
        with self.store.read() as session:
            rows = session.execute(
                select(EnquiryRow.agency_id, EnquiryRow.rag, func.count(), func.sum(at_risk), func.sum(overdue))
                .where(EnquiryRow.status.in_(OUTSTANDING))
                .group_by(EnquiryRow.agency_id, EnquiryRow.rag)
                .order_by(EnquiryRow.agency_id, EnquiryRow.rag)
            ).all()
        return OpenEnquiryStats(at=now, rows=[
            EnquiryStatRow(agency_id=a, rag=Rag(r), open=int(n), at_risk=int(ar or 0), overdue=int(od or 0))
            for a, r, n, ar, od in rows
        ])

    # ------------------------------------------------------------------ closing the loop
    def referral_loop(self, referral_id: str, now: datetime | None = None) -> ReferralLoop:
        """Who has been told (per recipient: sent / delivered / acknowledged / failed with reason), the
        decision deadline, a cross-border transfer, alerts and loop escalations of one referral."""
        now = now or self.clock()
        with self.store.read() as session:
            row = session.get(ReferralRow, referral_id)
            if row is None:
                raise NotFound("referral", referral_id)
            return referral_loop(session, row, now, self.settings.other_local_authorities)

    def loop_flags(self, referral_ids: Sequence[str], now: datetime | None = None) -> dict[str, LoopFlags]:
        """Decision deadline state, unacknowledged / failed outcomes and unacknowledged alerts per referral."""
        with self.store.read() as session:
            return worklist_flags(session, referral_ids, now or self.clock())

    def loop_counts(self, now: datetime | None = None) -> LoopCounts:
        """Totals of undelivered / unacknowledged outcomes, unacknowledged alerts, late decisions."""
        with self.store.read() as session:
            return loop_counts(session, now or self.clock())

    def alert(self, alert_id: str) -> AlertView:
        with self.store.read() as session:
            row = session.get(AlertRow, alert_id)
            if row is None:
                raise NotFound("alert", alert_id)
            return AlertView.of(row)

    def acknowledge_alert(self, alert_id: str, *, actor: str, note: str = "") -> AlertView:
        """A practitioner records that they have seen the alert and are acting on it (audited once)."""
        problems = []
        if not (actor or "").strip():
            problems.append("actor: required (who acknowledged is recorded)")
        if len(note) > 2000:
            problems.append(f"note: at most 2000 characters (got {len(note)})")
        if problems:
            raise InvalidInput("alert acknowledgement", problems)
        with self.store.unit() as uow:
            row = uow.session.get(AlertRow, alert_id, with_for_update=True)
            if row is None:
                raise NotFound("alert", alert_id)
            if row.acknowledged_at is not None:
                raise Conflict(f"alert {alert_id!r} was already acknowledged by {row.acknowledged_by} "
                               f"at {row.acknowledged_at:%Y-%m-%d %H:%M} UTC")
            row.acknowledged_at, row.acknowledged_by = uow.now, actor[:200]
            row.acknowledgement_note = note.strip() or None
            uow.audit("alert.acknowledged", actor=actor, referral_id=row.referral_id,
                      detail={"alert_id": alert_id, "kind": row.kind}, reason=note.strip() or None)
            uow.session.flush()
            return AlertView.of(row)

    def team_notifier(self, **kwargs: Any) -> TeamNotifier:
        """Sends alerts and loop escalations to the MASH team's configured channels (``loop.alerts``)."""
        return TeamNotifier(self.store, self.settings, clock=self.clock, **kwargs)

    # ------------------------------------------------------------------ audit
    def audit_events(self, *, referral_id: str | None = None, action: str | None = None,
                     after_sequence: int = 0, limit: int = 100) -> list[AuditEvent]:
        """Audit events in sequence order, optionally for one referral or one action (prefix with '.*')."""
        if not 1 <= limit <= 10_000:
            raise InvalidInput("audit query", [f"limit: must be between 1 and 10000 (got {limit})"])
        query = select(AuditEventRow).where(AuditEventRow.sequence > after_sequence)
        if referral_id is not None:
            query = query.where(AuditEventRow.referral_id == referral_id)
        if action is not None:
            if action.endswith(".*"):
                query = query.where(AuditEventRow.action.like(action[:-1] + "%"))
            else:
                query = query.where(AuditEventRow.action == action)
        with self.store.read() as session:
            rows = session.execute(query.order_by(AuditEventRow.sequence).limit(limit)).scalars().all()
            return [AuditEvent(**{k: getattr(r, k) for k in AuditEvent.model_fields}) for r in rows]

    def verify_audit(self, anchors: Sequence[AuditAnchor] = ()) -> VerificationResult:
        """The chain checked on its own and, for each anchor kept outside the database, against it."""
        with self.factory() as session:
            snapshot(session)  # chain pages and head from one consistent view, while the hub keeps writing
            result = verify_audit_chain(session, key=self.store.audit_key)
            if not anchors:
                return result
            # Anchors are the hub's own (audit_anchor); any other signer is reported as not signed by its key.
            keys = {HUB_SENDER_ID: self.settings.signing_key(HUB_SENDER_ID)}
            problems = check_anchors(session, anchors, keys=keys)
        return result.model_copy(update={"ok": result.ok and not problems, "problems": result.problems + problems,
                                         "anchors_checked": len(anchors)})

    def audit_anchor(self) -> AuditAnchor:
        """The chain head now, signed with the hub's key: keep it where the database's writers cannot."""
        with self.store.read() as session:
            return take_anchor(session, key=self.settings.signing_key(HUB_SENDER_ID), signer=HUB_SENDER_ID,
                               now=self.clock())

    def record_ops_action(self, actor: str, action: str, message_id: str | None, reason: str | None) -> AuditEvent:
        """Audit an operator's action (e.g. ``dlq.replayed``, ``dlq.discarded``) on a message."""
        problems = []
        if not actor:
            problems.append("actor: required")
        if not _ACTION_RE.match(action or ""):
            problems.append(f"action: {action!r} must be dotted lower-case words, e.g. dlq.replayed")
        if problems:
            raise InvalidInput("ops action", problems)
        with self.store.unit() as uow:
            uow.audit(action, actor=actor, message_id=message_id, reason=reason)
            written = uow.flush_audit()
        return written[-1]
