"""RabbitMQ-only faults: lost connections, the quorum delivery-limit backstop."""

from __future__ import annotations

import socket
import threading
import time

import kombu
import pytest

from tests.broker.broker_helpers import AGENCY, KEYS, Recorder, enquiry_envelope
from mashlink.broker import Broker, EnvelopeCodec, PublishError, RejectReason, Topology
from mashlink.broker.link import Link
from mashlink.schemas.codes import Rag

pytestmark = pytest.mark.rabbitmq


def _kill_socket(link: Link) -> None:
    """Break the TCP connection under the client, as a network fault would."""
    link.connection.connection.transport.sock.shutdown(socket.SHUT_RDWR)


def _wait(predicate, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def rabbit(amqp_url: str, unique_name: str):  # type: ignore[no-untyped-def]
    topology = Topology(f"f{unique_name}", delivery_limit=2)
    broker = Broker(amqp_url, EnvelopeCodec(KEYS), topology, retry_backoff_s=0.02, max_attempts=3)
    broker.declare([AGENCY])
    yield broker, topology
    broker.delete_topology([AGENCY])
    broker.close()


def test_consumer_carries_on_after_connection_loss(rabbit) -> None:  # type: ignore[no-untyped-def]
    broker, topology = rabbit
    rec = Recorder()
    lock = threading.Lock()

    def handler(deliveries):  # type: ignore[no-untyped-def]
        with lock:
            return rec(deliveries)

    consumer = broker.consumer(topology.enquiry_queues(AGENCY), handler)
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        first = [enquiry_envelope(Rag.GREEN, n=i) for i in range(50)]
        broker.publish([topology.enquiry(e) for e in first])
        assert _wait(lambda: len(set(rec.ids())) >= 50)
        _kill_socket(consumer.link)
        second = [enquiry_envelope(Rag.RED, n=i) for i in range(50)]
        broker.publish([topology.enquiry(e) for e in second])
        expected = {e.message_id for e in first + second}
        assert _wait(lambda: expected <= set(rec.ids()))
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert all(s.messages == 0 for s in broker.queue_stats() if not s.name.endswith(".dlq"))


def test_publisher_republishes_unconfirmed_after_connection_loss(rabbit) -> None:  # type: ignore[no-untyped-def]
    broker, topology = rabbit
    broker.publish([topology.enquiry(enquiry_envelope(Rag.RED))])  # connection established
    _kill_socket(broker.link)
    envs = [enquiry_envelope(Rag.RED, n=i) for i in range(200)]
    broker.publish([topology.enquiry(e) for e in envs])  # must reconnect and confirm all
    rec = Recorder()
    with broker.consumer([topology.enquiry_queue(AGENCY, Rag.RED)], rec) as consumer:
        while consumer.run_once(5):
            pass
    assert {e.message_id for e in envs} <= set(rec.ids())


def test_quorum_delivery_limit_backstop_dead_letters_crash_loops(rabbit, amqp_url: str) -> None:  # type: ignore[no-untyped-def]
    """A consumer that never settles (crash loop) cannot loop forever: RabbitMQ parks it."""
    broker, topology = rabbit
    env = enquiry_envelope(Rag.RED)
    broker.publish([topology.enquiry(env)])
    queue = topology.enquiry_queue(AGENCY, Rag.RED)
    with kombu.Connection(amqp_url) as conn:
        for _ in range(6):
            ch = conn.channel()
            raw = ch.basic_get(queue, no_ack=False)
            ch.close()  # "crash": unacked -> requeued, delivery count +1
            if raw is None:
                break
    assert _wait(lambda: bool(broker.dlq_list()), 10)
    (parked,) = broker.dlq_list()
    assert parked.message_id == env.message_id
    assert parked.reason is RejectReason.DELIVERY_LIMIT
    assert parked.queue == queue
    assert "broker" in parked.detail
    broker.dlq_replay(env.message_id)
    rec = Recorder()
    with broker.consumer([queue], rec) as consumer:
        consumer.run_once(5)
    assert rec.ids() == [env.message_id]


def test_heartbeats_keep_an_idle_consumer_alive(amqp_url: str, unique_name: str) -> None:
    topology = Topology(f"h{unique_name}")
    broker = Broker(amqp_url, EnvelopeCodec(KEYS), topology, heartbeat_s=2)
    broker.declare([AGENCY])
    try:
        rec = Recorder()
        consumer = broker.consumer([topology.enquiry_queue(AGENCY, Rag.RED)], rec)
        stop = threading.Event()
        thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
        thread.start()
        assert _wait(lambda: consumer.link.current_connection is not None and consumer.started, 10)
        before = consumer.link.current_connection
        assert before is not None and before.connection.heartbeat == 2
        time.sleep(7)  # > 3 heartbeat intervals of idleness: without heartbeats the server drops us
        assert consumer.link.current_connection is before  # never had to reconnect
        env = enquiry_envelope(Rag.RED)
        broker.publish([topology.enquiry(env)])  # the idle publisher reconnects if needed
        assert _wait(lambda: rec.ids() == [env.message_id], 10)
        stop.set()
        thread.join(10)
    finally:
        broker.delete_topology([AGENCY])
        broker.close()


def test_nacked_messages_are_reported(rabbit, amqp_url: str) -> None:  # type: ignore[no-untyped-def]
    """A full queue with reject-publish nacks: those messages are errors, the rest confirmed.

    (A classic queue, because quorum queues apply x-max-length asynchronously,
    which makes the number of nacks in a burst non-deterministic.)
    """
    broker, topology = rabbit
    full = f"{topology.namespace}.tiny"
    with kombu.Connection(amqp_url) as conn:
        ch = conn.channel()
        ch.queue_declare(queue=full, durable=True, auto_delete=False,
                         arguments={"x-queue-type": "classic", "x-max-length": 2, "x-overflow": "reject-publish"})
        ch.queue_bind(queue=full, exchange=topology.events_exchange, routing_key="tiny.only")
        try:
            envs = [enquiry_envelope(n=i) for i in range(10)]
            with pytest.raises(PublishError) as info:
                broker.publish([topology.event(e, "tiny.only") for e in envs])
            error = info.value
            assert error.confirmed == [e.message_id for e in envs[:2]]
            assert sorted(error.failed) == sorted(e.message_id for e in envs[2:])
            assert all("nacked" in why for why in error.failed.values())
        finally:
            ch.queue_delete(queue=full)
