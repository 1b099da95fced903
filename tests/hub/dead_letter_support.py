"""Parking a real message for dead-letter tests: a synthetic referral sent by an agency, rejected by the hub.

The referral envelope is signed with the agency's key, published to the
hub's events exchange and consumed from the hub's events queue by a handler
that rejects it, so it is parked by the consumer exactly as in production
(parking headers, reason, detail), on memory:// or RabbitMQ.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from mashlink.broker import Broker, EnvelopeCodec, Topology, Verdict
from mashlink.config.settings import MashlinkSettings
from mashlink.hub.service import hub_codec
from mashlink.schemas.envelope import Envelope, MessageType
from tests.broker.broker_helpers import Recorder
from tests.hub.hub_support import referral_data, synthetic_nhs_number

SENDER = "police-synth"
#: Personal values of ``referral_data`` that must never reach ops unredacted.
PERSONAL = ("Ada", "Testchild", "Beth", "Testparent", "2016-03-14", "ZZ99 1ZZ", "Synthetic Row", "07700 900000",
            synthetic_nhs_number(123456), "A123456789012", "hungry")


def hub_brokers(settings: MashlinkSettings, url: str, topology: Topology) -> Callable[[], Broker]:
    """Brokers as the hub makes them (hub codec), on ``url`` and ``topology``."""
    return lambda: Broker(url, hub_codec(settings), topology)


def park_referral(settings: MashlinkSettings, url: str, topology: Topology, referral_id: str | None = None) -> str:
    """Park one signed referral from ``SENDER`` in the hub events DLQ; returns its message id."""
    referral_id = referral_id or f"REF-DLQ-{uuid.uuid4().hex[:8]}"
    message_id = f"msg-{uuid.uuid4().hex}"
    envelope = Envelope(message_id=message_id, correlation_id=referral_id, message_type=MessageType.REFERRAL,
                        sender=SENDER, recipient="hub", sent_at=datetime.now(UTC),
                        body=referral_data(referral_id))
    agency_codec = EnvelopeCodec({SENDER: settings.signing_key(SENDER)}, signer=SENDER)
    publisher = Broker(url, agency_codec, topology)
    hub = hub_brokers(settings, url, topology)()
    try:
        hub.declare([a.id for a in settings.agencies])
        publisher.publish([topology.event(envelope, f"referral.{SENDER}")])
        rejecting = Recorder(verdicts={message_id: [Verdict.REJECT]})
        with hub.consumer([topology.events_queue], rejecting) as consumer:
            for _ in range(50):
                consumer.run_once(0.2)
                if message_id in rejecting.ids():
                    break
        assert message_id in rejecting.ids(), "the referral was not consumed"
        for _ in range(50):
            if hub.dlq_get(message_id) is not None:
                return message_id
        raise AssertionError("the referral was not parked")
    finally:
        publisher.close()
        hub.close()


def delete_topology(settings: MashlinkSettings, url: str, topology: Topology) -> None:
    broker = hub_brokers(settings, url, topology)()
    try:
        broker.delete_topology([a.id for a in settings.agencies])
    finally:
        broker.close()
