"""The connector runtime end to end on memory:// and RabbitMQ.

Enquiries are published as the hub would publish them; the runner answers
through a connector; the test drains the hub's responses queue.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from mashlink.broker.client import Broker
from mashlink.broker.errors import RejectReason
from mashlink.connectors.base import PermanentEnquiryError, response_id_for, response_message_id
from mashlink.connectors.reference import reference_connector
from mashlink.connectors.runtime import ConnectorRunner, RunnerSettings
from mashlink.connectors.simulators.population import Population
from mashlink.connectors.simulators.referrals import demo_referrals
from mashlink.schemas.codes import AgencyKind, Rag, ResponseStatus
from mashlink.schemas.enquiry import Enquiry, EnquiryResponse
from mashlink.schemas.envelope import Envelope

from .conftest import AGENCIES, ResponseCollector, enquiry_envelope, enquiry_from_referral, make_enquiry

POLICE = AGENCIES[AgencyKind.POLICE]


class QuickConnector:
    """A minimal real connector: answers ``not_known`` at once, or fails on demand (by enquiry id)."""

    agency_id = POLICE
    agency_kind = AgencyKind.POLICE

    def __init__(self, *, fail: set[str] | None = None, permanent: set[str] | None = None,
                 delay_s: float = 0.0) -> None:
        self.fail = fail or set()
        self.permanent = permanent or set()
        self.delay_s = delay_s
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def handle(self, enquiry: Enquiry) -> list[EnquiryResponse]:
        with self._lock:
            self.calls[enquiry.enquiry_id] = self.calls.get(enquiry.enquiry_id, 0) + 1
        if self.delay_s:
            time.sleep(self.delay_s)
        if enquiry.enquiry_id in self.fail:
            raise RuntimeError("agency system timed out")
        if enquiry.enquiry_id in self.permanent:
            raise PermanentEnquiryError("enquiry cannot be delivered to the agency tool")
        return [
            EnquiryResponse(
                response_id=response_id_for(enquiry.enquiry_id, self.agency_id, 1),
                enquiry_id=enquiry.enquiry_id, referral_id=enquiry.referral_id, agency_id=self.agency_id,
                agency_kind=self.agency_kind, status=ResponseStatus.NOT_KNOWN, responder="test",
                responded_at=datetime.now(UTC),
            )
        ]


def _subject(population: Population):  # type: ignore[no-untyped-def]
    family = next(f for f in population.families if not f.known_to)
    return population.as_person(family.children[0].key)


def _envelopes(population: Population, n: int, rag: Rag) -> list[Envelope]:
    subject = _subject(population)
    return [enquiry_envelope(make_enquiry(AgencyKind.POLICE, [subject], rag=rag)) for _ in range(n)]


@pytest.fixture
def hub(make_broker: Callable[..., Broker]) -> Broker:
    broker = make_broker("hub")
    broker.declare(AGENCIES.values())
    return broker


def _runner(make_broker: Callable[..., Broker], connector, **settings: object) -> ConnectorRunner:  # type: ignore[no-untyped-def]
    return ConnectorRunner(connector, lambda: make_broker(POLICE), RunnerSettings(**settings))  # type: ignore[arg-type]


@pytest.mark.parametrize("inline", [False, True])
def test_inline_connectors_answer_on_the_lane_thread_others_in_the_pool(
        make_broker: Callable[..., Broker], hub: Broker, population: Population, inline: bool) -> None:
    threads: list[str] = []

    class Recording(QuickConnector):
        answers_inline = inline

        def handle(self, enquiry: Enquiry) -> list[EnquiryResponse]:
            threads.append(threading.current_thread().name)
            return super().handle(enquiry)

    runner = _runner(make_broker, Recording())
    collector = ResponseCollector(hub)
    runner.start()
    try:
        hub.publish([hub.topology.enquiry(e) for e in _envelopes(population, 5, Rag.GREEN)])
        assert len(collector.until(lambda envs: len(envs) >= 5)) == 5
    finally:
        runner.stop()
    assert len(threads) == 5
    in_pool = [name.startswith(f"{POLICE}-") for name in threads]  # pool threads are named <agency>-<lane>_N
    assert in_pool == [not inline] * 5, threads


@pytest.mark.parametrize("inline", [False, True])
def test_inline_connectors_take_larger_batches_others_never_more_than_their_pool(
        make_broker: Callable[..., Broker], hub: Broker, population: Population, inline: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A backlog is worked in batches of ``inline_batch`` by an inline connector, of the pool size otherwise."""
    from mashlink.connectors import runtime

    sizes: list[int] = []
    original = runtime._BatchHandler.__call__

    def recording(self, deliveries):  # type: ignore[no-untyped-def]
        sizes.append(len(deliveries))
        return original(self, deliveries)

    monkeypatch.setattr(runtime._BatchHandler, "__call__", recording)

    class Connector(QuickConnector):
        answers_inline = inline

    hub.publish([hub.topology.enquiry(e) for e in _envelopes(population, 40, Rag.GREEN)])
    collector = ResponseCollector(hub)
    runner = _runner(make_broker, Connector(), standard_workers=2, inline_batch=16, max_wait_s=0.2)
    runner.start()
    try:
        assert len(collector.until(lambda envs: len(envs) >= 40)) == 40
    finally:
        runner.stop()
    assert sum(sizes) == 40 and runner.stats.answered == 40
    if inline:
        assert 2 < max(sizes) <= 16, sizes
    else:
        assert max(sizes) <= 2, sizes


def test_lane_batch_is_the_pool_unless_answers_are_inline() -> None:
    settings = RunnerSettings(inline_batch=32)
    assert settings.lane_batch(4, inline=False) == 4
    assert settings.lane_batch(4, inline=True) == 32
    assert settings.lane_batch(64, inline=True) == 64  # never smaller than the pool


def test_reference_connector_end_to_end_with_deterministic_ids(
    hub: Broker, make_broker: Callable[..., Broker], population: Population
) -> None:
    referrals = demo_referrals(population, datetime.now(UTC))
    requests = [enquiry_envelope(enquiry_from_referral(r, AgencyKind.POLICE)) for r in referrals]
    hub.publish([hub.topology.enquiry(e) for e in requests])
    collector = ResponseCollector(make_broker())
    conn = reference_connector(POLICE, AgencyKind.POLICE, population=population)
    with _runner(make_broker, conn) as runner:
        got = collector.until(lambda envs: len(envs) >= len(requests))
    collector.close()
    assert len(got) == len(requests)
    by_cause = {e.causation_id: e for e in got}
    for request in requests:
        response = by_cause[request.message_id]
        assert response.message_id == response_message_id(request.message_id, 1)
        assert (response.sender, response.recipient) == (POLICE, "hub")
        assert response.correlation_id == request.correlation_id and response.enquiry_id == request.enquiry_id
        assert response.rag == request.rag
        body = EnquiryResponse.model_validate(response.body)
        assert body.response_id == response_id_for(request.enquiry_id or "", POLICE, 1)
    statuses = {EnquiryResponse.model_validate(e.body).status for e in got}
    assert {ResponseStatus.INFORMATION_FOUND, ResponseStatus.NOT_KNOWN} <= statuses
    assert runner.stats.answered == len(requests)
    assert len(conn.simulator.worklist()) == len(requests)


def test_redelivered_enquiry_yields_the_same_response_ids(
    hub: Broker, make_broker: Callable[..., Broker], population: Population
) -> None:
    request = _envelopes(population, 1, Rag.AMBER)[0]
    hub.publish([hub.topology.enquiry(request)])
    hub.publish([hub.topology.enquiry(request)])  # the same message again, as after a crash before ack
    collector = ResponseCollector(make_broker())
    with _runner(make_broker, QuickConnector()):
        got = collector.until(lambda envs: len(envs) >= 2)
    collector.close()
    assert len(got) == 2
    assert got[0].message_id == got[1].message_id == response_message_id(request.message_id, 1)
    assert got[0].body["response_id"] == got[1].body["response_id"]


def test_bad_enquiries_are_parked_with_reason_and_the_runner_carries_on(
    hub: Broker, make_broker: Callable[..., Broker], population: Population
) -> None:
    good = _envelopes(population, 2, Rag.GREEN)
    malformed = good[0].model_copy(update={"message_id": uuid.uuid4().hex,
                                           "body": {**good[0].body, "subjects": []}})
    wrong_kind_body = make_enquiry(AgencyKind.HEALTH, [_subject(population)]).model_dump(mode="json")
    wrong_kind_body["agency_id"] = POLICE
    wrong_kind = good[0].model_copy(update={"message_id": uuid.uuid4().hex, "body": wrong_kind_body})
    permanent_enquiry = make_enquiry(AgencyKind.POLICE, [_subject(population)])
    permanent = enquiry_envelope(permanent_enquiry)
    hub.publish([hub.topology.enquiry(e) for e in [malformed, wrong_kind, good[0], permanent, good[1]]])
    collector = ResponseCollector(make_broker())
    conn = QuickConnector(permanent={permanent_enquiry.enquiry_id})
    with _runner(make_broker, conn) as runner:
        got = collector.until(lambda envs: len(envs) >= 2)
        deadline = time.monotonic() + 30
        while runner.stats.rejected < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    collector.close()
    assert {e.causation_id for e in got} == {good[0].message_id, good[1].message_id}
    queue = hub.topology.enquiry_queue(POLICE, Rag.GREEN)
    parked = {p.message_id: p for p in hub.dlq_list(queue)}
    assert parked[malformed.message_id].reason is RejectReason.INVALID_BODY
    assert "subjects" in parked[malformed.message_id].detail
    assert parked[wrong_kind.message_id].reason is RejectReason.PROCESSING_FAILURE
    assert "agency_kind" in parked[wrong_kind.message_id].detail
    assert parked[permanent.message_id].reason is RejectReason.PROCESSING_FAILURE
    assert "agency tool" in parked[permanent.message_id].detail


def test_connector_exception_is_retried_then_parked(
    hub: Broker, make_broker: Callable[..., Broker], population: Population
) -> None:
    failing = make_enquiry(AgencyKind.POLICE, [_subject(population)], rag=Rag.RED)
    ok = _envelopes(population, 1, Rag.RED)[0]
    failing_env = enquiry_envelope(failing)
    hub.publish([hub.topology.enquiry(failing_env), hub.topology.enquiry(ok)])
    conn = QuickConnector(fail={failing.enquiry_id})
    collector = ResponseCollector(make_broker())
    queue = hub.topology.enquiry_queue(POLICE, Rag.RED)
    with _runner(make_broker, conn):
        got = collector.until(lambda envs: len(envs) >= 1)
        deadline = time.monotonic() + 30
        while not hub.dlq_list(queue) and time.monotonic() < deadline:
            time.sleep(0.1)
    collector.close()
    assert [e.causation_id for e in got] == [ok.message_id]
    parked = hub.dlq_list(queue)
    assert [(p.message_id, p.reason) for p in parked] == [(failing_env.message_id, RejectReason.DELIVERY_LIMIT)]
    assert conn.calls[failing.enquiry_id] == 3  # the broker's max_attempts in this test
    assert "RuntimeError" in parked[0].detail


def test_red_overtakes_two_thousand_queued_green(
    hub: Broker, make_broker: Callable[..., Broker], population: Population
) -> None:
    greens = _envelopes(population, 2000, Rag.GREEN)
    red = _envelopes(population, 1, Rag.RED)[0]
    for start in range(0, len(greens), 500):
        hub.publish([hub.topology.enquiry(e) for e in greens[start:start + 500]])
    hub.publish([hub.topology.enquiry(red)])  # published last, behind the whole green backlog
    collector = ResponseCollector(make_broker())
    with _runner(make_broker, QuickConnector(), red_workers=1, standard_workers=2):
        got = collector.until(lambda envs: any(e.causation_id == red.message_id for e in envs))
        green_done_when_red_answered = sum(1 for e in got if e.rag is Rag.GREEN)
        collector.until(lambda envs: len(envs) >= 2001, timeout_s=240)
    collector.close()
    assert any(e.causation_id == red.message_id for e in got)
    # The red answer arrived while most of the green backlog was still queued.
    assert green_done_when_red_answered < 1000
    assert len({e.causation_id for e in collector.envelopes}) == 2001


def test_graceful_shutdown_then_restart_answers_everything_exactly_once(
    hub: Broker, make_broker: Callable[..., Broker], population: Population
) -> None:
    requests = _envelopes(population, 200, Rag.AMBER) + _envelopes(population, 40, Rag.RED)
    hub.publish([hub.topology.enquiry(e) for e in requests])
    collector = ResponseCollector(make_broker())
    conn = QuickConnector(delay_s=0.02)
    first = _runner(make_broker, conn, red_workers=2, standard_workers=3)
    first.start()
    collector.until(lambda envs: len(envs) >= 30)
    assert first.stop(timeout_s=60)
    answered_first = first.stats.answered
    assert 0 < answered_first < len(requests), "stop must land mid-run for this test to mean anything"
    collector.until(lambda envs: len(envs) >= answered_first, timeout_s=10)
    assert len(collector.envelopes) == answered_first  # every answer of the first run was published

    second = _runner(make_broker, conn, red_workers=2, standard_workers=3)
    second.start()
    collector.until(lambda envs: len(envs) >= len(requests), timeout_s=120)
    second.stop()
    collector.drain(0.5)
    collector.close()
    causes = [e.causation_id for e in collector.envelopes]
    assert sorted(causes) == sorted(e.message_id for e in requests)  # all answered, none twice
    assert first.stats.answered + second.stats.answered == len(requests)
