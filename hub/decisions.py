"""Decisions: what people decide on a referral, and the outcomes and receipts that follow.

Why one job: the MASH decision, a practitioner's confirmation or rejection
of a record link, and the acknowledgement of an alert are the hub's
judgements; each is one audited unit of work. A decision withdraws the
outstanding enquiries and sends one minimised ``Outcome`` to the referrer and
each contributing agency; their delivery receipts come back on the events
queue (``on_receipt``, checked in ``hub.receipts``) and settle the outcome's
acknowledgement window.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from ..broker.codec import describe_validation_error
from ..config.loop import find_other_la
from ..schemas.codes import OutcomeType
from ..schemas.decision import Decision, Outcome
from ..schemas.envelope import MessageType
from ..schemas.receipt import DeliveryReceipt
from ..schemas.referral import Referral
from .alerts import AlertView
from .core import REFERRER
from .envelopes import hub_envelope
from .errors import Conflict, InvalidInput, NotFound
from .handlers import EVENTS, Inbound
from .lifecycle import schedule_escalation
from .linked_models import MatchConfirmation
from .loop import schedule_acknowledgement, schedule_decision
from .match_review import (
    CONFIRMED_ACTION,
    REJECTED_ACTION,
    MatchDecisionRecord,
    MatchDecisionRequest,
    current_row,
    link_problems,
)
from .models import (
    OUTSTANDING,
    AlertRow,
    DecisionRow,
    EnquiryRow,
    EnquiryStatus,
    MatchDecisionRow,
    OutcomeRow,
    ReferralRow,
    ReferralStatus,
    ResponseRow,
)
from .receipts import handle_receipt
from .results import DecisionResult, OutcomeSent
from .unit import UnitOfWork
from .views import Views


def _outcome_label(value: str) -> str:
    return value.replace("_", " ")


class Decisions(Views):
    """The MASH decision and its outcomes, match decisions, alert acknowledgements; receipts for outcomes.

    Built on ``Views``: a match decision must be about a link the referral's
    linked view holds.
    """

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

    @EVENTS.handles(MessageType.RECEIPT, DeliveryReceipt, accepts_own=True)
    def on_receipt(self, uow: UnitOfWork, message: Inbound[DeliveryReceipt]) -> None:
        """A delivery receipt for an event the hub sent (checked and applied in ``hub.receipts``).

        Routed even when signed as the hub: a receipt is never an echo of the
        hub's own events, so one claiming to be the hub's is refused by the
        sender check (audited and parked), not silently acknowledged.
        """
        handle_receipt(uow, message, agencies={a.id for a in self.settings.agencies}, policy=self.loop)

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

    # ------------------------------------------------------------------ alerts
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
