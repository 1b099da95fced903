"""A retry works under an agency's least-privilege broker user (real RabbitMQ).

Why: a handler that asks to try again later (agency system down) has its
message republished with an attempt count. Through the default exchange that
needs a grant on ``amq.default``, which no least-privilege user has, so the
retry was refused and logged every five seconds for ever: the message was
neither delivered nor parked. Retries now go through the queue owner's own
retry exchange, which only that owner (and the hub) may write to.
"""

from __future__ import annotations

from collections.abc import Iterator

import amqp
import pytest

from mashlink.broker import Broker, EnvelopeCodec, Topology, Verdict
from mashlink.broker.link import RawMessage
from mashlink.broker.permissions import agency_permissions
from mashlink.schemas.codes import Rag
from tests.broker.broker_helpers import AGENCY, KEYS, Recorder, enquiry_envelope
from tests.restricted_broker_user import restricted_user

pytestmark = pytest.mark.rabbitmq
OTHER = "other-agency"



@pytest.fixture
def restricted(amqp_url: str, unique_name: str) -> Iterator[tuple[str, Topology, Broker]]:
    """The hub (guest) declares the topology; an agency user with exactly its permissions; torn down after."""
    topology = Topology(f"tretry{unique_name}", delivery_limit=10)
    hub = Broker(amqp_url, EnvelopeCodec(KEYS), topology)
    hub.declare([AGENCY, OTHER])
    try:
        with restricted_user(amqp_url, agency_permissions(topology, AGENCY, user=f"tretry-{unique_name}")) as url:
            yield url, topology, hub
    finally:
        hub.delete_topology([AGENCY, OTHER])
        hub.close()


def test_a_retry_under_the_agencys_own_user_is_delivered_again(restricted: tuple[str, Topology, Broker]) -> None:
    url, topology, hub = restricted
    env = enquiry_envelope(Rag.AMBER)
    hub.publish([topology.enquiry(env)])
    agency = Broker(url, EnvelopeCodec(KEYS), topology, retry_backoff_s=0.02, retry_backoff_max_s=0.2,
                    max_attempts=3, confirm_timeout_s=10.0)
    try:
        agency.ensure_agency_queues(AGENCY)
        rec = Recorder(verdicts={env.message_id: [Verdict.RETRY]})
        with agency.consumer(topology.enquiry_queues(AGENCY), rec) as consumer:
            consumer.run_once(20)
        assert [d.attempts for d in rec.seen] == [1, 2]
        assert hub.dlq_list() == []
        assert all(s.messages == 0 for s in hub.queue_stats())
    finally:
        agency.close()


def test_the_agency_may_not_use_another_owners_retry_exchange(restricted: tuple[str, Topology, Broker]) -> None:
    """Its retry exchange reaches only its own queues; another agency's and the hub's are refused."""
    url, topology, _hub = restricted
    agency = Broker(url, EnvelopeCodec(KEYS), topology, confirm_timeout_s=10.0)
    try:
        for exchange, queue in ((topology.agency_retry_exchange(OTHER), topology.enquiry_queue(OTHER, Rag.RED)),
                                (topology.hub_retry_exchange, topology.responses_queue)):
            with pytest.raises((amqp.exceptions.AccessRefused, Exception)) as refused:
                agency.publish_raw([RawMessage(body=b"{}", exchange=exchange, routing_key=queue,
                                               message_id=f"forged-{queue}", message_type="enquiry", headers={})])
            assert "ACCESS_REFUSED" in str(refused.value) or "access" in str(refused.value).lower()
    finally:
        agency.close()
