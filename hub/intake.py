"""Intake: referrals into the hub (the API, the CLI, an agency's connector) and what agencies tell it unasked.

Why one job: a referral submitted by a practitioner and one sent by a
partner agency's connector (a police CCTN / PPN) are validated, stored,
audited and fanned out by the same code, one minimised enquiry per agency
with its deadline. Re-rating re-sends the outstanding enquiries on the new
RAG. Alerts (an ED attendance, a new domestic-abuse occurrence in a watched
household) arrive the same way as agency referrals, on the hub's events
queue, as typed handlers of ``handlers.EVENTS``.

Every public method is one unit of work: validate first (nothing is stored
or sent on bad input), then change state, stage the messages it causes in
the outbox and append the audit events, all in one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from ..broker.codec import describe_validation_error
from ..broker.errors import RejectReason
from ..config.loop import find_other_la
from ..schemas.codes import AgencyKind, Rag
from ..schemas.enquiry import Enquiry
from ..schemas.envelope import MessageType
from ..schemas.events import Alert
from ..schemas.referral import RagChange, Referral
from .alerts import watch_reason
from .core import HubCore
from .envelopes import hub_envelope
from .errors import Conflict, InvalidInput, NotFound
from .handlers import EVENTS, Inbound, Rejected
from .lawful import check_lawful_basis
from .lifecycle import schedule_escalation
from .loop import schedule_decision
from .minimise import minimise_people, withheld_fields
from .models import (
    OUTSTANDING,
    AlertRow,
    EnquiryRow,
    EnquiryStatus,
    RagChangeRow,
    ReferralRow,
    ReferralStatus,
)
from .results import RerateResult, SentEnquiry, SubmitResult
from .unit import UnitOfWork

#: A received_at ahead of the hub's clock by more than this is recorded (``referral.received_at_in_future``);
#: a smaller lead is ordinary clock drift between the sender and the hub. Either way the decision clock
#: starts no later than the hub's now.
RECEIVED_AT_SKEW = timedelta(minutes=5)


class Intake(HubCore):
    """Referrals in, enquiries out; re-rating; agencies' referrals and alerts from the events queue."""

    # ------------------------------------------------------------------ referrals
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


    # ------------------------------------------------------------------ from agencies, on the events queue
    @EVENTS.handles(MessageType.REFERRAL, Referral)
    def on_agency_referral(self, uow: UnitOfWork, message: Inbound[Referral]) -> None:
        """A referral sent by a partner agency's connector (e.g. a police CCTN / PPN), fanned out like any other.

        The sender is authenticated by the envelope signature and must be a
        configured agency; the referral is stored, audited and its enquiries
        queued in the dispatcher's unit of work, so it is durable when the
        message is acked. A referral id that already exists (the agency sent
        the same notice again) has one effect: it is acknowledged and audited
        as a duplicate, never stored twice.
        """
        sender, referral = message.sender, message.body
        if sender not in {a.id for a in self.settings.agencies}:
            raise Rejected(RejectReason.PROCESSING_FAILURE, f"sender {sender!r} is not a configured agency")
        try:
            self._check_local_authority(referral)
            targets = self._target_agencies(None)
            self._check_lawful_basis(referral, targets)
        except InvalidInput as exc:
            raise Rejected(RejectReason.INVALID_BODY, str(exc)) from None
        if uow.session.get(ReferralRow, referral.referral_id) is None:
            self._store_referral(uow, referral, targets, actor=sender)
        else:
            uow.audit("referral.duplicate", actor=sender, referral_id=referral.referral_id,
                      message_id=message.message_id, detail={"sender": sender})

    @EVENTS.handles(MessageType.ALERT, Alert)
    def on_alert(self, uow: UnitOfWork, message: Inbound[Alert]) -> None:
        """An agency's alert about a child: stored once (by alert id), audited, and watched if it matters."""
        alert = message.body
        if alert.agency_id != message.sender:
            raise Rejected(RejectReason.INVALID_BODY, "body.agency_id differs from envelope.sender")
        if uow.session.get(AlertRow, alert.alert_id) is not None:
            return
        referral_row = uow.session.get(ReferralRow, alert.referral_id) if alert.referral_id else None
        reason = watch_reason(alert, referral_row)
        uow.session.add(AlertRow(
            alert_id=alert.alert_id, message_id=message.message_id, kind=alert.kind.value,
            agency_id=alert.agency_id, referral_id=alert.referral_id, enquiry_id=alert.enquiry_id,
            occurred_at=alert.occurred_at, received_at=uow.now, body=alert.model_dump(mode="json"),
            watched_because=reason,
            team_la=referral_row.local_authority if referral_row is not None
            else self.settings.local_authority.code,
        ))
        uow.audit("alert.received", actor=alert.agency_id, referral_id=alert.referral_id,
                  enquiry_id=alert.enquiry_id, message_id=message.message_id,
                  detail={"alert_id": alert.alert_id, "kind": alert.kind.value,
                          "agency_kind": alert.agency_kind.value, "person_ref": alert.person_ref,
                          "location": alert.location, "watched_because": reason})
