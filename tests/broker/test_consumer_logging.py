"""Consumer log lines carry the message, referral (correlation) and enquiry ids; parking is a WARNING.

The JSON lines are captured from stderr with the production pipeline
(``configure_logging(json=True)``), on memory:// and on RabbitMQ.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
import structlog

from mashlink.broker import Broker, Delivery, EnvelopeCodec, HandlerResult, Topology, Verdict
from mashlink.config.logging import configure_logging
from mashlink.schemas.codes import Rag
from tests.broker.broker_helpers import AGENCY, KEYS, Recorder, enquiry_envelope

handler_log = structlog.get_logger("tests.handler")


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], list[dict[str, object]]]]:
    saved = structlog.get_config()
    configure_logging("DEBUG", json=True)

    def lines() -> list[dict[str, object]]:
        return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]

    yield lines
    structlog.configure(**saved)


def _events(lines: list[dict[str, object]], event: str) -> list[dict[str, object]]:
    return [line for line in lines if line["event"] == event]


def test_parked_message_logs_a_warning_with_its_ids_and_reason(
        broker: Broker, topology: Topology, json_logs: Callable[[], list[dict[str, object]]]) -> None:
    env = enquiry_envelope(Rag.AMBER)
    broker.publish([topology.enquiry(env)])
    json_logs()  # drop what publishing logged
    with broker.consumer(topology.enquiry_queues(AGENCY), Recorder(verdicts={env.message_id: [Verdict.REJECT]})) \
            as consumer:
        consumer.run_once(5)
    lines = json_logs()
    (parked,) = _events(lines, "consumer.parked")
    assert parked["level"] == "warning"
    assert parked["reason"] == "processing_failure"
    assert parked["message_id"] == env.message_id
    assert parked["correlation_id"] == env.correlation_id == "ref-synthetic-1"
    assert parked["enquiry_id"] == env.enquiry_id
    assert parked["queue"] == topology.enquiry_queue(AGENCY, Rag.AMBER)
    text = json.dumps(lines)
    assert "mash-team-synthetic" not in text and "children_act_2004_s11" not in text  # no body values


def test_bad_signature_is_parked_at_warning_naming_the_message(
        make_broker: Callable[..., Broker], broker_url: str, topology: Topology,
        json_logs: Callable[[], list[dict[str, object]]]) -> None:
    broker = make_broker()
    broker.declare([AGENCY])
    forger = Broker(broker_url, EnvelopeCodec({**KEYS, "hub": b"not-the-hub-key-0a1b2c3d4e"}), topology)
    try:
        env = enquiry_envelope(Rag.RED)
        forger.publish([topology.enquiry(env)])
    finally:
        forger.close()
    json_logs()
    with broker.consumer(topology.enquiry_queues(AGENCY), Recorder()) as consumer:
        consumer.run_once(5)
    (parked,) = _events(json_logs(), "consumer.parked")
    assert parked["level"] == "warning" and parked["reason"] == "bad_signature"
    assert parked["message_id"] == env.message_id
    assert "correlation_id" not in parked  # an unverified envelope's ids are not trusted


def test_handler_log_lines_and_retries_carry_the_ids(
        make_broker: Callable[..., Broker], topology: Topology,
        json_logs: Callable[[], list[dict[str, object]]]) -> None:
    broker = make_broker()
    broker.declare([AGENCY])
    env = enquiry_envelope(Rag.GREEN)
    broker.publish([topology.enquiry(env)])

    def handler(deliveries: list[Delivery]) -> list[HandlerResult]:
        handler_log.info("handler.saw", count=len(deliveries))
        return [HandlerResult(Verdict.RETRY, None, "detail-not-for-logs") for _ in deliveries]

    json_logs()
    with broker.consumer(topology.enquiry_queues(AGENCY), handler) as consumer:
        consumer.run_once(5)
    lines = json_logs()
    seen = _events(lines, "handler.saw") + _events(lines, "consumer.retry_scheduled")
    assert {line["event"] for line in seen} == {"handler.saw", "consumer.retry_scheduled"}
    for line in seen:  # the first delivery and its retries (max_attempts 3), each with the ids
        assert line["message_id"] == env.message_id
        assert line["correlation_id"] == env.correlation_id
        assert line["enquiry_id"] == env.enquiry_id
    for line in _events(lines, "consumer.retry_scheduled"):  # a failed delivery: WARNING with a reason code
        assert line["level"] == "warning" and line["reason"] == "handler_retry"
        assert line["queue"] == topology.enquiry_queue(AGENCY, Rag.GREEN)
    assert "detail-not-for-logs" not in json.dumps(lines)  # never the detail text


def test_a_delivery_failing_with_an_error_logs_its_class_as_the_reason(
        make_broker: Callable[..., Broker], topology: Topology,
        json_logs: Callable[[], list[dict[str, object]]]) -> None:
    broker = make_broker()
    broker.declare([AGENCY])
    env = enquiry_envelope(Rag.RED)
    broker.publish([topology.enquiry(env)])

    def handler(deliveries: list[Delivery]) -> list[HandlerResult]:
        raise ConnectionError("agency system at synthetic-host refused")

    json_logs()
    with broker.consumer(topology.enquiry_queues(AGENCY), handler) as consumer:
        consumer.run_once(5)
    lines = json_logs()
    failed = _events(lines, "consumer.retry_scheduled")
    assert failed and all(line["level"] == "warning" and line["reason"] == "ConnectionError" for line in failed)
    assert all(line["message_id"] == env.message_id and line["correlation_id"] == env.correlation_id
               for line in failed)
    assert "synthetic-host" not in json.dumps(failed)
