"""Fixtures for Model 3 delivery tests: brokers on both transports, a hub-side response collector."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mashlink.broker.client import Broker
from mashlink.broker.codec import EnvelopeCodec
from mashlink.broker.messages import Delivery, HandlerResult
from mashlink.broker.topology import Topology
from mashlink.connectors.delivery.answers import AnswerPublisher
from mashlink.connectors.delivery.pending import PendingStore
from mashlink.connectors.delivery.receiver import AnswerReceiver
from mashlink.schemas.codes import AgencyKind, Rag
from mashlink.schemas.enquiry import Enquiry
from mashlink.schemas.envelope import Envelope
from mashlink.schemas.person import BirthDate, HumanName, Person

AGENCY = "education-synth"
KEYS = {"hub": b"hub-test-key-0a1b2c3d4eabcdef", AGENCY: b"education-synth-test-key-012345"}
HOOK_KEY = b"webhook-shared-secret-01234x56789"


@pytest.fixture(params=["memory", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def broker_url(request: pytest.FixtureRequest) -> str:
    return "memory://" if request.param == "memory" else str(request.getfixturevalue("amqp_url"))


@pytest.fixture
def topology(unique_name: str) -> Topology:
    return Topology(f"dlv{unique_name}")


class Collector:
    """The hub side: drains the responses queue."""

    def __init__(self, broker: Broker) -> None:
        self.envelopes: list[Envelope] = []
        self.consumer = broker.consumer([broker.topology.responses_queue], self._handle, name="test-hub")

    def _handle(self, deliveries: list[Delivery]) -> list[HandlerResult]:
        self.envelopes.extend(d.envelope for d in deliveries)
        return [HandlerResult.ack() for _ in deliveries]

    def until(self, count: int, timeout_s: float = 30.0) -> list[Envelope]:
        deadline = time.monotonic() + timeout_s
        while len(self.envelopes) < count and time.monotonic() < deadline:
            self.consumer.run_once(0.2)
        return self.envelopes


@pytest.fixture
def hub_side(broker_url: str, topology: Topology) -> Iterator[Collector]:
    broker = Broker(broker_url, EnvelopeCodec(KEYS), topology)
    broker.declare([AGENCY])
    yield Collector(broker)
    try:
        broker.delete_topology([AGENCY])
    finally:
        broker.close()


@pytest.fixture
def publisher(broker_url: str, topology: Topology) -> Iterator[AnswerPublisher]:
    pub = AnswerPublisher(lambda: Broker(broker_url, EnvelopeCodec(KEYS, signer=AGENCY), topology), AGENCY)
    yield pub
    pub.close()


@pytest.fixture
def pending(tmp_path: Path) -> PendingStore:
    return PendingStore(tmp_path / "pending.sqlite")


@pytest.fixture
def receiver(pending: PendingStore, publisher: AnswerPublisher) -> AnswerReceiver:
    return AnswerReceiver(AGENCY, AgencyKind.EDUCATION, pending, publisher, system="Synthetic MIS",
                          organisation="999")


def make_enquiry(rag: Rag = Rag.AMBER) -> Enquiry:
    now = datetime.now(UTC)
    child = Person(person_id="s1", names=[HumanName(given=["Ava"], family="Testchild")],
                   birth_date=BirthDate(value=datetime(2015, 4, 1).date()))
    return Enquiry(enquiry_id=uuid.uuid4().hex, referral_id=uuid.uuid4().hex, agency_id=AGENCY,
                   agency_kind=AgencyKind.EDUCATION, subjects=[child], rag=rag, requested_at=now,
                   due_at=now + timedelta(hours=24), lawful_basis=["children_act_1989_s17"], requester="MASH")


AnswerFactory = Callable[..., dict]
