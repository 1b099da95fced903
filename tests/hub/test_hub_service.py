"""The hub's use cases on a real database (SQLite and PostgreSQL): intake to outcome."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from mashlink.broker.codec import EnvelopeCodec
from mashlink.broker.errors import RejectReason
from mashlink.broker.messages import Delivery, Verdict
from mashlink.config.deadlines import DeadlinePolicy
from mashlink.hub.errors import Conflict, InvalidInput, NotFound
from mashlink.hub.models import AuditEventRow, EnquiryRow, EscalationRow, InboxRow, OutboxRow, ReferralRow, ResponseRow
from mashlink.hub.service import HubService
from mashlink.schemas.codes import Rag
from mashlink.schemas.decision import Outcome
from mashlink.schemas.enquiry import Enquiry
from mashlink.schemas.envelope import Envelope, MessageType
from mashlink.schemas.events import Escalation

from tests.hub.hub_support import FakeClock, referral_data

AGENCIES = ["education-synth", "health-synth", "police-synth", "social-care-synth"]
KINDS = {"police-synth": "police", "health-synth": "health", "education-synth": "education",
         "social-care-synth": "social_care"}


def _outbox(hub: HubService, message_type: str | None = None) -> list[Envelope]:
    codec = hub.codec
    with hub.factory() as session:
        query = select(OutboxRow).order_by(OutboxRow.id)
        if message_type:
            query = query.where(OutboxRow.message_type == message_type)
        return [codec.decode(bytes(r.payload)) for r in session.execute(query).scalars()]


def _count(hub: HubService, model: type) -> int:
    with hub.factory() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def _response(enquiry_id: str, agency_id: str, *, status: str = "not_known", sequence: int = 1,
              more: bool = False, referral_id: str = "REF-0001", message_id: str | None = None,
              findings: bool = False) -> Delivery:
    body: dict = {
        "response_id": uuid.uuid4().hex, "enquiry_id": enquiry_id, "referral_id": referral_id,
        "agency_id": agency_id, "agency_kind": KINDS[agency_id], "status": status,
        "responder": "synthetic MASH desk", "responded_at": "2025-06-02T10:00:00+00:00",
        "sequence": sequence, "more_to_follow": more,
    }
    if status == "declined":
        body["declined_reason"] = "disproportionate at this stage"
    if findings:
        body["people"] = [{"person_id": "r1", "names": [{"given": ["Ada"], "family": "Testchild"}]}]
        body["findings"] = [{
            "finding_id": "f1", "subject_person_id": "r1", "category": "education.attendance"
            if KINDS[agency_id] == "education" else "police.missing_episode",
            "summary": "synthetic", "start": "2025-05-01",
            "source": {"agency_id": agency_id, "agency_kind": KINDS[agency_id], "system": "synth",
                       "record_id": "R1"},
        }]
    env = Envelope(message_id=message_id or uuid.uuid4().hex, correlation_id=referral_id, enquiry_id=enquiry_id,
                   message_type=MessageType.ENQUIRY_RESPONSE, sender=agency_id, recipient="hub",
                   sent_at=datetime(2025, 6, 2, 10, tzinfo=timezone.utc), body=body)
    return Delivery(envelope=env, queue="responses", redelivered=False, attempts=1)


# ---------------------------------------------------------------- intake
def test_invalid_referral_stores_and_publishes_nothing(hub: HubService) -> None:
    data = referral_data()
    data["subjects"][0]["identifiers"][2].pop("scope")  # la_child_id needs its issuing LA
    data["concerns"] = []
    with pytest.raises(InvalidInput) as err:
        hub.submit_referral(data)
    message = str(err.value)
    assert "concerns" in message and "subjects.0.identifiers.2" in message
    assert "LA-77" not in message  # the offending value (personal data) is not echoed
    assert _count(hub, ReferralRow) == 0 and _count(hub, OutboxRow) == 0 and _count(hub, AuditEventRow) == 0


def test_unknown_agency_is_refused_before_anything_is_stored(hub: HubService) -> None:
    with pytest.raises(InvalidInput, match=r"agencies\[1\]: 'probation-synth'"):
        hub.submit_referral(referral_data(), agencies=["police-synth", "probation-synth"])
    assert _count(hub, ReferralRow) == 0 and _count(hub, OutboxRow) == 0


def test_duplicate_referral_id_conflicts_and_changes_nothing(hub: HubService) -> None:
    hub.submit_referral(referral_data())
    before = (_count(hub, OutboxRow), _count(hub, AuditEventRow))
    with pytest.raises(Conflict):
        hub.submit_referral(referral_data())
    assert (_count(hub, OutboxRow), _count(hub, AuditEventRow)) == before


def test_fan_out_minimised_per_agency_policy(hub: HubService) -> None:
    result = hub.submit_referral(referral_data())
    assert sorted(e.agency_id for e in result.enquiries) == AGENCIES
    sent = {env.recipient: env for env in _outbox(hub, "enquiry")}
    assert sorted(sent) == AGENCIES
    for agency_id, env in sent.items():
        enquiry = Enquiry.model_validate(env.body)
        policy = hub.settings.policy_for(agency_id)
        assert env.sender == "hub" and env.correlation_id == "REF-0001"
        assert env.enquiry_id == enquiry.enquiry_id and env.rag is Rag.AMBER and env.due_at == enquiry.due_at
        assert env.signature
        assert [p.person_id for p in enquiry.subjects] == ["c1", "u1", "m1"]
        for person in enquiry.subjects:
            for ident in person.identifiers:
                assert policy.allows_identifier(ident.system.value), (agency_id, ident.system)
            if not policy.allows_field("contacts"):
                assert person.contacts == []
    education = Enquiry.model_validate(sent["education-synth"].body)
    assert {i.system.value for p in education.subjects for i in p.identifiers} == {"upn"}
    health = Enquiry.model_validate(sent["health-synth"].body)
    assert {i.system.value for p in health.subjects for i in p.identifiers} == {"nhs_number"}
    social = Enquiry.model_validate(sent["social-care-synth"].body)
    assert {i.system.value for p in social.subjects for i in p.identifiers} == {"nhs_number", "upn", "la_child_id"}
    assert "identifiers.nhs_number" in result.enquiry_for("education-synth").withheld_fields


def test_referral_may_name_its_agencies(hub: HubService) -> None:
    result = hub.submit_referral(referral_data(), agencies=["police-synth", "health-synth"])
    assert sorted(result.enquiry_ids) == sorted(e.enquiry_id for e in result.enquiries)
    assert sorted(env.recipient for env in _outbox(hub, "enquiry")) == ["health-synth", "police-synth"]


def test_deadlines_come_from_the_working_hours_policy(hub: HubService, clock: FakeClock) -> None:
    result = hub.submit_referral(referral_data(rag="amber"))
    policy = DeadlinePolicy.from_settings(hub.settings)
    enquiry = result.enquiries[0]
    assert enquiry.due_at == policy.deadline_for(Rag.AMBER, clock.now)
    assert enquiry.at_risk_at == policy.at_risk_at(Rag.AMBER, clock.now)
    # Monday 10:00 London + 24 working hours (09:00-17:00) is Thursday 10:00 London.
    assert enquiry.due_at == datetime(2025, 6, 5, 9, 0, tzinfo=timezone.utc)
    red = hub.submit_referral(referral_data("REF-RED", rag="red"))
    assert red.enquiries[0].due_at == clock.now + timedelta(hours=4)  # red is worked out of hours


# ---------------------------------------------------------------- responses
def test_responses_close_the_referral_when_all_agencies_answer(hub: HubService) -> None:
    result = hub.submit_referral(referral_data(), agencies=["police-synth", "education-synth"])
    police = result.enquiry_for("police-synth").enquiry_id
    education = result.enquiry_for("education-synth").enquiry_id
    verdicts = hub.handle_responses([_response(police, "police-synth", status="not_known")])
    assert [v.verdict for v in verdicts] == [Verdict.ACK]
    assert hub.referral_status("REF-0001").status == "open"
    hub.handle_responses([_response(education, "education-synth", status="declined")])
    status = hub.referral_status("REF-0001")
    assert status.status == "closed" and status.closed_reason == "all_answered"
    assert {e.agency_id: e.last_response_status for e in status.enquiries} == {
        "police-synth": "not_known", "education-synth": "declined"}


def test_duplicate_delivery_has_one_effect(hub: HubService) -> None:
    result = hub.submit_referral(referral_data())
    enquiry = result.enquiry_for("police-synth").enquiry_id
    delivery = _response(enquiry, "police-synth", status="information_found", more=True)
    first = hub.handle_responses([delivery])
    audit_after_first = _count(hub, AuditEventRow)
    again = hub.handle_responses([delivery, delivery])  # redelivered, and twice in one batch
    assert [r.verdict for r in first + again] == [Verdict.ACK] * 3
    assert _count(hub, ResponseRow) == 1 and _count(hub, InboxRow) == 1
    assert _count(hub, AuditEventRow) == audit_after_first


def test_follow_ups_are_merged_by_sequence(hub: HubService) -> None:
    result = hub.submit_referral(referral_data(), agencies=["police-synth"])
    enquiry = result.enquiry_for("police-synth").enquiry_id
    hub.handle_responses([_response(enquiry, "police-synth", status="partial", sequence=1, more=True)])
    state = hub.referral_status("REF-0001")
    assert state.enquiries[0].status == "partial" and state.status == "open"
    # the final part arrives, then a late copy of an earlier part: the final answer stands
    hub.handle_responses([_response(enquiry, "police-synth", status="information_found", sequence=3)])
    hub.handle_responses([_response(enquiry, "police-synth", status="partial", sequence=2, more=True)])
    state = hub.referral_status("REF-0001")
    assert state.enquiries[0].status == "answered"
    assert state.enquiries[0].last_response_status == "information_found"
    assert state.enquiries[0].responses == 3 and state.status == "closed"
    assert [r.sequence for r in hub.responses("REF-0001")] == [1, 2, 3]


def test_bad_messages_are_rejected_and_the_rest_of_the_batch_commits(hub: HubService) -> None:
    result = hub.submit_referral(referral_data(), agencies=["police-synth", "health-synth"])
    police = result.enquiry_for("police-synth").enquiry_id
    health = result.enquiry_for("health-synth").enquiry_id
    unknown = _response("no-such-enquiry", "police-synth")
    malformed = _response(police, "police-synth")
    malformed.envelope.body.pop("status")
    wrong_agency = _response(health, "police-synth")  # police answering health's enquiry
    good = _response(health, "health-synth")
    results = hub.handle_responses([unknown, malformed, wrong_agency, good])
    assert [r.verdict for r in results] == [Verdict.REJECT, Verdict.REJECT, Verdict.REJECT, Verdict.ACK]
    assert results[0].reason is RejectReason.INVALID_BODY and "no such enquiry" in results[0].detail
    assert results[1].reason is RejectReason.INVALID_BODY and "body.status" in results[1].detail
    assert "another agency" in results[2].detail
    assert _count(hub, ResponseRow) == 1 and _count(hub, InboxRow) == 1
    rejected = hub.audit_events(action="message.rejected")
    assert [e.message_id for e in rejected] == [d.envelope.message_id for d in (unknown, malformed, wrong_agency)]


# ---------------------------------------------------------------- deadlines
def test_tick_raises_at_risk_then_overdue_and_closes(hub: HubService, clock: FakeClock) -> None:
    result = hub.submit_referral(referral_data(), agencies=["police-synth", "health-synth"])
    police = result.enquiry_for("police-synth")
    hub.handle_responses([_response(police.enquiry_id, "police-synth")])
    tracker = hub.deadline_tracker(batch_size=1)
    assert tracker.tick(police.at_risk_at - timedelta(seconds=1)).raised == 0
    at_risk = tracker.tick(police.at_risk_at)
    assert (at_risk.at_risk, at_risk.overdue) == (1, 0)  # only health: police has answered
    assert tracker.tick(police.at_risk_at + timedelta(minutes=1)).raised == 0  # never twice
    overdue = tracker.tick(police.due_at)
    assert (overdue.at_risk, overdue.overdue, overdue.referrals_closed) == (0, 1, 1)
    escalations = [Escalation.model_validate(e.body) for e in _outbox(hub, "escalation")]
    assert [(e.agency_id, e.level.value) for e in escalations] == [("health-synth", "at_risk"),
                                                                    ("health-synth", "overdue")]
    status = hub.referral_status("REF-0001")
    assert status.status == "closed" and status.closed_reason == "deadlines_passed"
    stats = hub.open_enquiry_stats(police.due_at)
    assert [(r.agency_id, r.open, r.overdue) for r in stats.rows] == [("health-synth", 1, 1)]
    assert [e.action for e in hub.audit_events(action="escalation.*")] == ["escalation.at_risk",
                                                                          "escalation.overdue"]


def test_restart_escalates_what_passed_while_down(hub_db, hub_settings, topology) -> None:  # type: ignore[no-untyped-def]
    start = datetime(2025, 6, 2, 9, tzinfo=timezone.utc)
    first = HubService(hub_settings, hub_db.engine, topology=topology, clock=FakeClock(start))
    result = first.submit_referral(referral_data("REF-R", rag="red"))
    first.deadline_tracker().tick(start)
    # the hub is down for a day; a new process on the same database takes over
    engine = hub_db.new_engine()
    try:
        later = start + timedelta(days=1)
        second = HubService(hub_settings, engine, topology=topology, clock=FakeClock(later))
        tick = second.deadline_tracker(batch_size=3).tick()
        assert (tick.overdue, tick.at_risk) == (len(result.enquiries), 0)
        assert {e.status for e in second.referral_status("REF-R").enquiries} == {"overdue"}
        assert second.deadline_tracker().tick(later + timedelta(hours=1)).raised == 0
        with second.factory() as session:
            assert session.execute(select(func.count()).select_from(EscalationRow)).scalar_one() == 4
    finally:
        engine.dispose()


# ---------------------------------------------------------------- re-rating
def test_rerate_recomputes_deadlines_and_resends_to_the_new_rag_queue(hub: HubService, clock: FakeClock) -> None:
    result = hub.submit_referral(referral_data(rag="green"), agencies=["police-synth", "health-synth"])
    police = result.enquiry_for("police-synth")
    hub.handle_responses([_response(police.enquiry_id, "police-synth")])  # answered: not re-sent
    clock.advance(hours=1)
    rerated = hub.rerate("REF-0001", "red", by="mash-manager-2", reason="new disclosure")
    assert rerated.previous_rag is Rag.GREEN and rerated.rag is Rag.RED
    assert [e.agency_id for e in rerated.resent] == ["health-synth"]
    health = rerated.resent[0]
    requested = result.enquiry_for("health-synth").requested_at
    assert health.due_at == requested + timedelta(hours=4)  # from requested_at, not from the re-rating
    resent = [e for e in _outbox(hub, "enquiry") if e.message_id == health.message_id]
    assert len(resent) == 1 and resent[0].rag is Rag.RED and resent[0].recipient == "health-synth"
    assert resent[0].causation_id == result.enquiry_for("health-synth").message_id
    assert hub.topology.enquiry(resent[0]).routing_key == "health-synth.red"
    status = hub.referral_status("REF-0001")
    assert status.rag is Rag.RED and [c.rag for c in status.rag_history] == [Rag.GREEN, Rag.RED]
    assert [e.action for e in hub.audit_events(referral_id="REF-0001")][-2:] == ["referral.rerated",
                                                                                 "enquiry.resent"]
    # the new, earlier deadline is what the tracker now enforces
    assert hub.deadline_tracker().tick(health.due_at).overdue == 1


def test_rerate_unknown_or_decided_referral(hub: HubService) -> None:
    with pytest.raises(NotFound):
        hub.rerate("nope", "red", by="x", reason="")
    with pytest.raises(InvalidInput):
        hub.rerate("nope", "purple", by="x", reason="")


# ---------------------------------------------------------------- decision
def test_decision_sends_minimised_outcomes_to_referrer_and_contributors(hub: HubService) -> None:
    result = hub.submit_referral(referral_data())
    police = result.enquiry_for("police-synth").enquiry_id
    education = result.enquiry_for("education-synth").enquiry_id
    verdicts = hub.handle_responses([_response(police, "police-synth", status="information_found", findings=True),
                                     _response(education, "education-synth", status="not_known")])
    assert [v.verdict for v in verdicts] == [Verdict.ACK, Verdict.ACK], verdicts
    decision = {
        "decision_id": "D-1", "referral_id": "REF-0001", "outcome": "section_17",
        "rationale": "Police record of missing episodes (synthetic); strategy not needed.",
        "decided_by": "mash-manager-2", "decided_at": "2025-06-02T15:00:00+00:00",
    }
    done = hub.record_decision(decision)
    assert sorted(o.recipient for o in done.outcomes) == ["education-synth", "police-synth", "referrer"]
    assert len(done.withdrawn_enquiries) == 2  # health and social care had not answered
    outcomes = _outbox(hub, "outcome")
    assert sorted(e.recipient for e in outcomes) == ["education-synth", "police-synth", "referrer"]
    for env in outcomes:
        outcome = Outcome.model_validate(env.body)
        assert outcome.outcome.value == "section_17" and outcome.decision_id == "D-1"
        assert "Police" not in outcome.summary and "missing" not in outcome.summary  # no findings, no rationale
    assert {hub.topology.event(e, f"outcome.{e.recipient}").routing_key for e in outcomes} == {
        "outcome.education-synth", "outcome.police-synth", "outcome.referrer"}
    status = hub.referral_status("REF-0001")
    assert status.status == "decided" and status.decision is not None
    with pytest.raises(Conflict):
        hub.record_decision({**decision, "decision_id": "D-2"})
    actions = [e.action for e in hub.audit_events(referral_id="REF-0001")]
    assert actions.count("outcome.sent") == 3 and "decision.recorded" in actions
    assert hub.deadline_tracker().tick(datetime(2026, 1, 1, tzinfo=timezone.utc)).raised == 0


def test_decision_notify_must_name_known_recipients(hub: HubService) -> None:
    hub.submit_referral(referral_data())
    with pytest.raises(InvalidInput, match=r"notify\[0\]"):
        hub.record_decision({"decision_id": "D-1", "referral_id": "REF-0001", "outcome": "nfa_advice",
                             "rationale": "r", "decided_by": "m", "decided_at": "2025-06-02T15:00:00+00:00",
                             "notify": ["somebody"]})


# ---------------------------------------------------------------- events, ops, audit
def test_alerts_are_stored_once_and_audited(hub: HubService) -> None:
    alert = {"alert_id": "A-1", "kind": "unscheduled_care_attendance", "agency_id": "health-synth",
             "agency_kind": "health", "person_ref": "hub-subject-1", "occurred_at": "2025-06-02T11:00:00+00:00",
             "location": "RXX01"}
    env = Envelope(message_id="m-alert-1", correlation_id="REF-0001", message_type=MessageType.ALERT,
                   sender="health-synth", recipient="hub", sent_at=datetime(2025, 6, 2, 11, tzinfo=timezone.utc),
                   body=alert)
    delivery = Delivery(envelope=env, queue="events", redelivered=False, attempts=1)
    echo = Envelope(message_id="m-own", correlation_id="REF-0001", message_type=MessageType.OUTCOME,
                    sender="hub", recipient="referrer", sent_at=env.sent_at, body={})
    results = hub.handle_events([delivery, delivery, Delivery(envelope=echo, queue="events", redelivered=False,
                                                                attempts=1)])
    assert [r.verdict for r in results] == [Verdict.ACK] * 3
    assert [e.action for e in hub.audit_events(action="alert.received")] == ["alert.received"]


def _referral_delivery(message_id: str, body: dict, sender: str = "police-synth") -> Delivery:
    env = Envelope(message_id=message_id, correlation_id=body.get("referral_id", "x"),
                   message_type=MessageType.REFERRAL, sender=sender, recipient="hub",
                   sent_at=datetime(2025, 6, 2, 11, tzinfo=timezone.utc), body=body)
    return Delivery(envelope=env, queue="events", redelivered=False, attempts=1)


def test_a_referral_from_an_agency_is_fanned_out_once(hub: HubService) -> None:
    body = {**referral_data("REF-CCTN-1"), "source": "6", "referrer": "Synthshire Police (synthetic)"}
    first = _referral_delivery("m-ref-1", body)
    again_other_message = _referral_delivery("m-ref-2", body)  # the force sent the same notice twice
    results = hub.handle_events([first, first, again_other_message])
    assert [r.verdict for r in results] == [Verdict.ACK] * 3
    with hub.factory() as session:
        row = session.get(ReferralRow, "REF-CCTN-1")
        assert row is not None and row.submitted_by == "police-synth"
        agencies = set(session.execute(select(EnquiryRow.agency_id).where(
            EnquiryRow.referral_id == "REF-CCTN-1")).scalars())
    assert agencies == {a.id for a in hub.settings.enabled_agencies()}
    assert [e.referral_id for e in hub.audit_events(action="referral.received")] == ["REF-CCTN-1"]
    (duplicate,) = hub.audit_events(action="referral.duplicate")
    assert duplicate.message_id == "m-ref-2" and duplicate.actor == "police-synth"


def test_an_agency_referral_that_breaks_a_rule_is_rejected_and_audited(hub: HubService) -> None:
    # A child from a local authority this hub does not serve is accepted for transfer, not rejected
    # (tests/hub/test_loop_cross_border.py).
    invalid = _referral_delivery("m-ref-4", {**referral_data("REF-CCTN-3"), "subjects": []})
    stranger = _referral_delivery("m-ref-5", referral_data("REF-CCTN-4"), sender="not-an-agency")
    results = hub.handle_events([invalid, stranger])
    assert [(r.verdict, r.reason) for r in results] == [
        (Verdict.REJECT, RejectReason.INVALID_BODY), (Verdict.REJECT, RejectReason.PROCESSING_FAILURE)]
    assert "body.subjects" in (results[0].detail or "")
    with hub.factory() as session:
        assert session.execute(select(func.count()).select_from(ReferralRow)).scalar_one() == 0
    assert len(hub.audit_events(action="message.rejected")) == 2


def test_ops_actions_are_audited_and_the_chain_verifies(hub: HubService) -> None:
    hub.submit_referral(referral_data())
    event = hub.record_ops_action("ops-1", "dlq.replayed", "msg-123", "fixed mapping")
    assert event.action == "dlq.replayed" and event.message_id == "msg-123"
    with pytest.raises(InvalidInput):
        hub.record_ops_action("ops-1", "Replay Everything", None, None)
    verification = hub.verify_audit()
    assert verification.ok and verification.events_checked == event.sequence


def test_hub_service_open_migrates_a_fresh_database(tmp_path, hub_settings, topology) -> None:  # type: ignore[no-untyped-def]
    settings = hub_settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'fresh' / 'hub.sqlite'}"})
    (tmp_path / "fresh").mkdir()
    service = HubService.open(settings, topology=topology)
    try:
        assert service.submit_referral(referral_data()).referral_id == "REF-0001"
    finally:
        service.close()


def test_envelopes_verify_with_the_configured_keys(hub: HubService) -> None:
    hub.submit_referral(referral_data())
    keys = {s: hub.settings.signing_key(s) for s in hub.settings.signing_senders()}
    verifier = EnvelopeCodec(keys)
    with hub.factory() as session:
        for row in session.execute(select(OutboxRow)).scalars():
            assert verifier.decode(bytes(row.payload)).message_id == row.message_id


def test_linked_view_is_built_from_stored_state(hub: HubService, clock: FakeClock) -> None:
    result = hub.submit_referral(referral_data(), agencies=["police-synth", "education-synth"])
    police = result.enquiry_for("police-synth")
    hub.handle_responses([_response(police.enquiry_id, "police-synth", status="information_found",
                                    findings=True)])
    view = hub.linked_view("REF-0001", now=police.due_at + timedelta(minutes=1))
    states = {a.agency_id: (a.status.value, a.overdue) for a in view.agencies}
    assert states == {"police-synth": ("information_found", False), "education-synth": ("overdue", True)}
    assert view.outstanding == ["education-synth"]
    assert [e.record_id for e in view.chronology + view.for_review] == ["R1"]
    with pytest.raises(NotFound):
        hub.linked_view("nope")


def test_tracker_closes_a_fully_answered_referral_a_race_left_open(hub: HubService, clock: FakeClock) -> None:
    """Safety net: if two hubs raced on the last answers and neither closed the referral, the next tick does."""
    sent = hub.submit_referral(referral_data("REF-RACED"))
    for agency in ("police-synth", "health-synth", "education-synth", "social-care-synth"):
        hub.handle_responses([_response(sent.enquiry_for(agency).enquiry_id, agency, referral_id="REF-RACED")])
    assert hub.referral_status("REF-RACED").status == "closed"
    with hub.engine.begin() as conn:  # what the race left behind: every answer in, the referral still open
        conn.exec_driver_sql("UPDATE referrals SET status = 'open', closed_at = NULL, closed_reason = NULL "
                             "WHERE referral_id = 'REF-RACED'")
    result = hub.deadline_tracker().tick(clock())
    assert result.referrals_closed == 1
    assert hub.referral_status("REF-RACED").status == "closed"
