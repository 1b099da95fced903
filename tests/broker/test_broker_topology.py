"""Topology names and routes, and idempotent declaration on both transports."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.broker.broker_helpers import AGENCY, enquiry_envelope
from mashlink.broker import Broker, Topology
from mashlink.schemas.codes import Rag


def test_names_follow_the_contract() -> None:
    t = Topology("ns")
    assert t.enquiry_queue("police-synth", Rag.RED) == "ns.enquiry.police-synth.red"
    assert t.enquiry_queues("police-synth") == [
        "ns.enquiry.police-synth.red",
        "ns.enquiry.police-synth.amber",
        "ns.enquiry.police-synth.green",
    ]
    assert t.responses_queue == "ns.hub.responses"
    assert t.dlq_for(t.responses_queue) == "ns.hub.responses.dlq"
    assert t.agency_events_queue("health-synth") == "ns.events.health-synth"


def test_routes() -> None:
    t = Topology("ns")
    out = t.enquiry(enquiry_envelope(Rag.AMBER))
    assert (out.exchange, out.routing_key) == ("ns.enquiries", f"{AGENCY}.amber")
    assert t.response(enquiry_envelope()).exchange == "ns.hub"
    ev = t.event(enquiry_envelope(), "outcome.education-synth")
    assert (ev.exchange, ev.routing_key) == ("ns.events", "outcome.education-synth")


def test_enquiry_without_rag_is_refused() -> None:
    env = enquiry_envelope().model_copy(update={"rag": None})
    with pytest.raises(ValueError, match="rag"):
        Topology("ns").enquiry(env)


@pytest.mark.parametrize("bad", ["", "has.dot", "has space", "#"])
def test_bad_agency_ids_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="agency id"):
        Topology("ns").enquiry_queue(bad, Rag.RED)


def test_event_key_must_be_concrete() -> None:
    with pytest.raises(ValueError, match="routing_key"):
        Topology("ns").event(enquiry_envelope(), "outcome.#")


def test_work_queues_are_quorum_with_at_least_once_dead_lettering() -> None:
    t = Topology("ns", delivery_limit=7)
    specs = {s.name: s for s in t.queues([AGENCY])}
    red = specs["ns.enquiry.police-synth.red"]
    assert red.arguments["x-queue-type"] == "quorum"
    assert red.arguments["x-dead-letter-strategy"] == "at-least-once"
    assert red.arguments["x-overflow"] == "reject-publish"
    assert red.arguments["x-delivery-limit"] == 7
    assert red.arguments["x-dead-letter-routing-key"] == "ns.enquiry.police-synth.red.dlq"
    assert specs["ns.enquiry.police-synth.red.dlq"].is_dlq


def test_declare_is_idempotent(make_broker: Callable[..., Broker], topology: Topology) -> None:
    broker = make_broker()
    broker.declare([AGENCY])
    broker.publish([topology.enquiry(enquiry_envelope(Rag.RED))])
    broker.declare([AGENCY])  # again, with a message in the queue: nothing changes or is lost
    stats = {s.name: s.messages for s in broker.queue_stats()}
    assert stats[topology.enquiry_queue(AGENCY, Rag.RED)] == 1
    assert stats[topology.dlq_for(topology.responses_queue)] == 0
