"""The enquiry loop end to end, on both transports, with the faults issue 3 names.

Real RabbitMQ and PostgreSQL where marked; memory:// and SQLite otherwise.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.e2e.loop import AGENCIES, Loop, make_loop, now, wait_for
from mashlink.broker.messages import Delivery, HandlerResult
from mashlink.connectors.simulators.referrals import bulk_referrals, demo_referrals
from mashlink.hub.models import AuditEventRow, ResponseRow
from mashlink.schemas.codes import Rag


@pytest.fixture(params=["memory+sqlite", "rabbitmq+postgres"])
def loop(request: pytest.FixtureRequest, tmp_path: Path, unique_name: str) -> Iterator[Loop]:
    if request.param == "memory+sqlite":
        made = make_loop(tmp_path, broker_url="memory://")
    else:
        amqp = request.getfixturevalue("amqp_url")
        postgres = request.getfixturevalue("postgres_url")
        made = make_loop(tmp_path, broker_url=amqp, database_url=postgres, schema=f"e2e_{unique_name}")
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def rabbit_loop(tmp_path: Path, amqp_url: str) -> Iterator[Loop]:
    made = make_loop(tmp_path, broker_url=amqp_url)
    try:
        yield made
    finally:
        made.close()


def test_referral_to_four_agencies_to_linked_view(loop: Loop) -> None:
    service = loop.start_hub()
    loop.start_connectors()
    referrals = demo_referrals(loop.population, now())
    for referral in referrals:
        service.submit_referral(referral)
    ids = [r.referral_id for r in referrals]
    wait_for(lambda: loop.all_answered(ids), 90, "every agency to answer every referral")

    red = service.linked_view(referrals[0].referral_id)
    assert red.rag is Rag.RED
    assert {a.kind.value for a in red.agencies} == {"police", "health", "education", "social_care"}
    assert red.outstanding == []
    kinds_in_chronology = {entry.agency_kind.value for entry in red.chronology}
    assert kinds_in_chronology == {"police", "health", "education", "social_care"}
    for entry in red.chronology:
        assert entry.source_system and entry.record_id and entry.agency_id
    # Every child of the red referral is linked to records in several agencies.
    for subject in red.subjects:
        assert len({m.agency_id for m in subject.matches}) >= 2

    unborn_view = service.linked_view(referrals[1].referral_id)
    assert any(s.person.unborn for s in unborn_view.subjects)
    # The audit chain over the whole run verifies.
    assert service.verify_audit().ok


def test_same_message_twice_has_one_effect(loop: Loop) -> None:
    service = loop.start_hub()
    loop.start_connectors(["police-synth"])
    referral = demo_referrals(loop.population, now())[0]
    service.submit_referral(referral, agencies=["police-synth"])
    wait_for(lambda: loop.all_answered([referral.referral_id]), 60, "the police answer")
    before = loop.response_rows()
    # Re-deliver every stored response envelope to the hub's handler, as a broker redelivery would.
    responses = service.responses(referral.referral_id)
    assert responses
    with service.factory() as session:
        rows = session.execute(select(ResponseRow)).scalars().all()
        message_ids = [row.message_id for row in rows]
    from mashlink.schemas.envelope import Envelope, MessageType

    deliveries = []
    for response, message_id in zip(responses, message_ids):
        env = Envelope(message_id=message_id, correlation_id=response.referral_id, enquiry_id=response.enquiry_id,
                       message_type=MessageType.ENQUIRY_RESPONSE, sender=response.agency_id, recipient="hub",
                       sent_at=now(), body=response.model_dump(mode="json"))
        deliveries.append(Delivery(envelope=env, queue=loop.topology.responses_queue, redelivered=True,
                                   attempts=2, body=response))
    results = service.handle_responses(deliveries)
    assert all(r == HandlerResult.ack() for r in results)
    assert loop.response_rows() == before


def test_kill_9_connector_mid_run_every_enquiry_answered_exactly_once(rabbit_loop: Loop) -> None:
    loop = rabbit_loop
    service = loop.start_hub()
    referrals = bulk_referrals(loop.population, 1000, now(), rag=Rag.GREEN)
    for referral in referrals:
        service.submit_referral(referral, agencies=["police-synth"])
    ids = [r.referral_id for r in referrals]

    first = loop.spawn_connector("police-synth")
    wait_for(lambda: loop.response_rows() >= 150, 120, "the connector to answer some enquiries")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    answered_at_kill = loop.response_rows()
    assert answered_at_kill < 1000, "the connector finished before it could be killed"

    loop.spawn_connector("police-synth")
    wait_for(lambda: loop.all_answered(ids), 300, "every enquiry to be answered after the restart", 0.5)

    with service.factory() as session:
        per_enquiry = session.execute(
            select(ResponseRow.enquiry_id, ResponseRow.sequence, func.count())
            .group_by(ResponseRow.enquiry_id, ResponseRow.sequence)
        ).all()
        duplicates = [row for row in per_enquiry if row[2] != 1]
        enquiries_answered = {row[0] for row in per_enquiry}
    assert not duplicates, f"responses applied more than once: {duplicates[:5]}"
    assert len(enquiries_answered) == 1000
    broker = loop.broker()
    try:
        assert broker.dlq_list() == []
    finally:
        broker.close()


def test_hub_restart_mid_run_loses_nothing(loop: Loop) -> None:
    service = loop.start_hub()
    loop.start_connectors()
    referrals = bulk_referrals(loop.population, 60, now())
    for referral in referrals:
        service.submit_referral(referral)
    ids = [r.referral_id for r in referrals]
    wait_for(lambda: loop.response_rows() >= 20, 60, "some answers before the restart")
    loop.stop_hub()  # connectors keep answering: responses wait in the broker

    service = loop.start_hub()
    wait_for(lambda: loop.all_answered(ids), 120, "every referral answered after the hub restart", 0.2)
    with service.factory() as session:
        dupes = session.execute(
            select(ResponseRow.enquiry_id, ResponseRow.sequence, func.count())
            .group_by(ResponseRow.enquiry_id, ResponseRow.sequence).having(func.count() > 1)
        ).all()
    assert dupes == []
    assert sum(len(service.referral_status(rid).enquiries) for rid in ids) == 4 * len(ids)
    assert service.verify_audit().ok


def test_no_deadline_missed_while_the_hub_was_down(tmp_path: Path) -> None:
    class Clock:
        def __init__(self) -> None:
            self.at = now()

        def __call__(self):  # type: ignore[no-untyped-def]
            return self.at

    clock = Clock()
    loop = make_loop(tmp_path, broker_url="memory://", clock=clock)
    try:
        service = loop.start_hub(tick_interval_s=0.1)
        loop.start_connectors(["police-synth", "health-synth", "education-synth"])  # social care never answers
        referral = demo_referrals(loop.population, clock.at)[0]  # red
        sent = service.submit_referral(referral)
        social = sent.enquiry_for("social-care-synth")
        wait_for(lambda: service.referral_status(referral.referral_id).outstanding == ["social-care-synth"],
                 60, "three agencies to answer")
        loop.stop_hub()
        clock.at = social.due_at + timedelta(minutes=1)  # the deadline passes while the hub is down
        service = loop.start_hub(tick_interval_s=0.1)

        def overdue_raised() -> bool:
            state = next(e for e in service.referral_status(referral.referral_id).enquiries
                         if e.agency_id == "social-care-synth")
            return state.overdue_raised_at is not None

        wait_for(overdue_raised, 30, "the overdue escalation after restart")
        with service.factory() as session:
            actions = session.execute(
                select(AuditEventRow.action).where(AuditEventRow.enquiry_id == social.enquiry_id)
            ).scalars().all()
        assert any("overdue" in a for a in actions)
        # The escalation reaches the social care agency's events queue once the outbox relay publishes it.
        events_queue = loop.topology.agency_events_queue("social-care-synth")
        broker = loop.broker()
        try:
            wait_for(lambda: {q.name: q.messages for q in broker.queue_stats([events_queue])}[events_queue] >= 1,
                     30, "the overdue escalation on the agency's events queue")
        finally:
            broker.close()
    finally:
        loop.close()


def test_red_is_delivered_while_10000_green_are_queued(loop: Loop) -> None:
    from mashlink.broker.codec import EnvelopeCodec  # noqa: F401
    from mashlink.schemas.enquiry import Enquiry
    from mashlink.schemas.envelope import Envelope, MessageType

    service = loop.open_hub()
    referral = demo_referrals(loop.population, now())[3]
    sent = service.submit_referral(referral, agencies=["education-synth"])
    template = service.enquiries(referral.referral_id)[0]
    broker = loop.broker()
    try:
        def envelope(rag: Rag, n: int) -> Envelope:
            body = template.model_copy(update={"enquiry_id": f"{rag.value}-{n}", "rag": rag})
            return Envelope(message_id=uuid.uuid4().hex, correlation_id=body.referral_id, enquiry_id=body.enquiry_id,
                            message_type=MessageType.ENQUIRY, sender="hub", recipient="education-synth",
                            sent_at=now(), due_at=body.due_at, rag=rag, body=body.model_dump(mode="json"))

        greens = [loop.topology.enquiry(envelope(Rag.GREEN, n)) for n in range(10_000)]
        for start in range(0, len(greens), 1000):
            broker.publish(greens[start:start + 1000])
        broker.publish([loop.topology.enquiry(envelope(Rag.RED, 0))])
        green_queue = loop.topology.enquiry_queue("education-synth", Rag.GREEN)
        assert {q.name: q.messages for q in broker.queue_stats([green_queue])}[green_queue] >= 9_990

        order: list[str] = []

        def collect(deliveries: list[Delivery]) -> list[HandlerResult]:
            order.extend(d.envelope.enquiry_id or "" for d in deliveries)
            return [HandlerResult.ack() for _ in deliveries]

        loop.start_connectors(["education-synth"])
        consumer = broker.consumer([loop.topology.responses_queue], collect, prefetch=200, max_batch=200)
        wait_for(lambda: consumer.run_once(0.2) >= 0 and "red-0" in order, 60, "the red response")
        remaining = {q.name: q.messages for q in broker.queue_stats([green_queue])}[green_queue]
        loop.stop_connectors()
        consumer.close()
    finally:
        broker.close()
    # Red was answered while (almost) all of the green backlog was still queued.
    assert remaining > 8_000, f"red waited for {10_000 - remaining} green enquiries"
    assert order.index("red-0") < 500
    assert sent.enquiries[0].agency_id == "education-synth"
    assert Enquiry.model_validate(template.model_dump()).agency_id == "education-synth"
