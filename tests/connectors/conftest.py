"""Fixtures for connector tests: a synthetic population, enquiries, brokers on both transports.

Enquiries are built here without the hub's minimisation (the hub builds the
real ones); each broker test gets its own Topology namespace and deletes its
queues and exchanges at teardown.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from mashlink.broker.client import Broker
from mashlink.broker.codec import EnvelopeCodec
from mashlink.broker.messages import Delivery, HandlerResult
from mashlink.broker.topology import Topology
from mashlink.connectors.simulators.population import Population, generate_population
from mashlink.schemas.codes import AgencyKind, Rag
from mashlink.schemas.enquiry import Enquiry, EnquiryResponse
from mashlink.schemas.envelope import Envelope, MessageType
from mashlink.schemas.person import Person
from mashlink.schemas.referral import Referral

AGENCIES = {
    AgencyKind.POLICE: "police-synth",
    AgencyKind.HEALTH: "health-synth",
    AgencyKind.EDUCATION: "education-synth",
    AgencyKind.SOCIAL_CARE: "social-care-synth",
}
KEYS = {"hub": b"hub-test-key-0a1b2c3d4eabcdef"} | {
    agency: f"{agency}-test-key-01234x56789".encode() for agency in AGENCIES.values()
}


@pytest.fixture(scope="session")
def population() -> Population:
    return generate_population(4242, as_of=date.today())


def make_enquiry(
    agency_kind: AgencyKind,
    subjects: list[Person],
    *,
    rag: Rag = Rag.GREEN,
    referral_id: str | None = None,
    enquiry_id: str | None = None,
    referral: Referral | None = None,
) -> Enquiry:
    now = datetime.now(UTC)
    return Enquiry(
        enquiry_id=enquiry_id or uuid.uuid4().hex,
        referral_id=referral_id or (referral.referral_id if referral else uuid.uuid4().hex),
        agency_id=AGENCIES[agency_kind],
        agency_kind=agency_kind,
        subjects=subjects,
        relationships=referral.relationships if referral else [],
        concerns=[c.value for c in referral.concerns] if referral else [],
        rag=referral.rag if referral else rag,
        requested_at=now,
        due_at=now + timedelta(hours=4),
        lawful_basis=referral.lawful_basis if referral else ["children_act_1989_s17"],
        consent_note=referral.consent.reason if referral else None,
        requester="Synthshire MASH",
    )


def enquiry_from_referral(referral: Referral, agency_kind: AgencyKind) -> Enquiry:
    """Every referral person as a subject (no minimisation: the hub does that)."""
    return make_enquiry(agency_kind, [*referral.subjects, *referral.household], referral=referral)


def enquiry_envelope(enquiry: Enquiry, *, message_id: str | None = None) -> Envelope:
    return Envelope(
        message_id=message_id or uuid.uuid4().hex,
        correlation_id=enquiry.referral_id,
        enquiry_id=enquiry.enquiry_id,
        message_type=MessageType.ENQUIRY,
        sender="hub",
        recipient=enquiry.agency_id,
        sent_at=datetime.now(UTC),
        due_at=enquiry.due_at,
        rag=enquiry.rag,
        body=enquiry.model_dump(mode="json"),
    )


@pytest.fixture(params=["memory", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def broker_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    return str(request.getfixturevalue("amqp_url"))


@pytest.fixture
def topology(unique_name: str) -> Topology:
    return Topology(f"tc{unique_name}", delivery_limit=20)


@pytest.fixture
def make_broker(broker_url: str, topology: Topology) -> Iterator[Callable[..., Broker]]:
    """Brokers on this test's URL and namespace; the hub's codec verifies and signs any sender."""
    made: list[Broker] = []

    def factory(signer: str | None = None, **kwargs: object) -> Broker:
        options: dict[str, object] = {"retry_backoff_s": 0.02, "retry_backoff_max_s": 0.1, "max_attempts": 3}
        options.update(kwargs)
        broker = Broker(broker_url, EnvelopeCodec(KEYS, signer=signer), topology, **options)  # type: ignore[arg-type]
        made.append(broker)
        return broker

    yield factory
    cleaner = Broker(broker_url, EnvelopeCodec(KEYS), topology)
    try:
        cleaner.delete_topology(AGENCIES.values())
    finally:
        cleaner.close()
        for broker in made:
            try:
                broker.close()
            except Exception:  # noqa: BLE001 - already closed by the runner
                pass


class ResponseCollector:
    """Drains the hub's responses queue (as the hub would), keeping envelopes in arrival order."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.envelopes: list[Envelope] = []
        self._consumer = broker.consumer([broker.topology.responses_queue], self._handle, prefetch=500,
                                         max_batch=500, name="test-hub")

    def _handle(self, deliveries: list[Delivery]) -> list[HandlerResult]:
        self.envelopes.extend(d.envelope for d in deliveries)
        return [HandlerResult.ack() for _ in deliveries]

    def drain(self, timeout_s: float = 1.0) -> list[Envelope]:
        self._consumer.run_once(timeout_s)
        return self.envelopes

    def until(self, predicate: Callable[[list[Envelope]], bool], timeout_s: float = 60.0) -> list[Envelope]:
        """Drain until ``predicate`` holds (the time-out only bounds a failing test)."""
        import time

        deadline = time.monotonic() + timeout_s
        while not predicate(self.envelopes) and time.monotonic() < deadline:
            self._consumer.run_once(0.3)
        return self.envelopes

    def responses(self) -> list[EnquiryResponse]:
        return [EnquiryResponse.model_validate(e.body) for e in self.envelopes]

    def close(self) -> None:
        self._consumer.close()
