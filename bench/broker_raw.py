"""Publisher confirms: kombu one-at-a-time vs mashlink's window vs pika.

``mashlink bench publish`` publishes the same persistent, mandatory messages
to the same quorum queue four ways and reports messages per second:

* **kombu confirm_publish** (baseline): kombu's ``confirm_publish`` transport
  option waits for each message's confirm before sending the next.
* **pika BlockingConnection + confirm_delivery**: also one confirm round trip
  per message (pika's blocking adapter), for comparison.
* **mashlink window**: ``Broker.publish`` keeps up to ``publish_window``
  messages in flight on one confirm channel and matches acks, nacks and
  returns by delivery tag (pre-encoded bodies, so only publishing is timed).
* **mashlink signed**: ``Broker.publish`` end to end, including HMAC signing.

The helpers (``bench_target``, ``raw_kombu_publish_confirmed``,
``raw_kombu_consume``) are reused by the round-trip benchmark as the raw
client baseline. Needs RabbitMQ (``MASHLINK_BENCH_AMQP_URL`` or the test
default); without it only the embedded transport is measured.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import amqp
import kombu

from .report import BenchReport, BenchRow
from ..broker import Broker, EnvelopeCodec, OutgoingMessage, Topology
from ..broker.link import RawMessage
from ..schemas.codes import Rag
from ..schemas.envelope import Envelope, MessageType

NAME = "publish"
AMQP_URL = os.environ.get("MASHLINK_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
AGENCY = "bench-agency"
KEYS = {"hub": b"bench-hub-key-01234x56789"}


@dataclass
class BenchTarget:
    """A throw-away topology: a green enquiry queue and the route to it."""

    broker: Broker
    topology: Topology
    queue: str
    exchange: str
    routing_key: str


def rabbitmq_reachable(url: str = AMQP_URL) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 5672), timeout=2):
            return True
    except OSError:
        return False


@contextmanager
def bench_target(url: str, **broker_options: object) -> Iterator[BenchTarget]:
    """Declare a unique namespace, yield its green enquiry route, delete it afterwards."""
    topology = Topology(f"bench{uuid.uuid4().hex[:8]}")
    broker = Broker(url, EnvelopeCodec(KEYS), topology, **broker_options)  # type: ignore[arg-type]
    broker.declare([AGENCY])
    try:
        yield BenchTarget(
            broker=broker,
            topology=topology,
            queue=topology.enquiry_queue(AGENCY, Rag.GREEN),
            exchange=topology.enquiries_exchange,
            routing_key=f"{AGENCY}.green",
        )
    finally:
        try:
            broker.delete_topology([AGENCY])
        finally:
            broker.close()


def synthetic_envelopes(count: int) -> list[Envelope]:
    """Small, valid, synthetic enquiry envelopes (no real person)."""
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    envs = []
    for i in range(count):
        enquiry_id = f"enq-{i:06d}-{uuid.uuid4().hex[:8]}"
        envs.append(
            Envelope(
                message_id=f"msg-{uuid.uuid4().hex}",
                correlation_id="ref-bench",
                enquiry_id=enquiry_id,
                message_type=MessageType.ENQUIRY,
                sender="hub",
                recipient=AGENCY,
                sent_at=now,
                due_at=now + timedelta(hours=72),
                rag=Rag.GREEN,
                body={
                    "enquiry_id": enquiry_id,
                    "referral_id": "ref-bench",
                    "agency_id": AGENCY,
                    "agency_kind": "police",
                    "subjects": [{"person_id": f"p-{i}"}],
                    "rag": "green",
                    "requested_at": now.isoformat(),
                    "due_at": (now + timedelta(hours=72)).isoformat(),
                    "lawful_basis": ["children_act_2004_s11"],
                    "requester": "bench",
                },
            )
        )
    return envs


def raw_kombu_publish_confirmed(url: str, exchange: str, routing_key: str, bodies: Sequence[bytes]) -> float:
    """Baseline: kombu Producer with ``confirm_publish`` (one confirm wait per message). Seconds."""
    with kombu.Connection(url, transport_options={"confirm_publish": True}) as conn:
        producer = kombu.Producer(conn.channel())
        start = time.perf_counter()
        for body in bodies:
            producer.publish(
                body,
                exchange=exchange,
                routing_key=routing_key,
                content_type="application/json",
                content_encoding="binary",
                delivery_mode=2,
                mandatory=True,
                message_id=uuid.uuid4().hex,
            )
        return time.perf_counter() - start


def _amqp_connection(url: str) -> amqp.Connection:
    """A bare py-amqp connection for the URL (the same library kombu uses underneath)."""
    parsed = urlparse(url)
    vhost = unquote(parsed.path[1:]) if parsed.path not in ("", "/") else "/"
    conn = amqp.Connection(
        host=f"{parsed.hostname or '127.0.0.1'}:{parsed.port or 5672}",
        userid=unquote(parsed.username or "guest"),
        password=unquote(parsed.password or "guest"),
        virtual_host=vhost or "/",
    )
    conn.connect()
    return conn


def raw_amqp_publish_windowed(url: str, exchange: str, routing_key: str, bodies: Sequence[bytes], *,
                              window: int = 1000, timeout_s: float = 60.0) -> float:
    """Baseline: bare py-amqp, confirm mode, up to ``window`` unconfirmed messages in flight. Seconds.

    The fastest way a plain client publishes persistent, mandatory messages
    with confirms: no per-message wait, acks (``multiple`` or single) and
    returns counted as they arrive; it returns when every message is
    confirmed and fails loudly on a nack or return.
    """
    conn = _amqp_connection(url)
    try:
        ch = conn.channel()
        ch.confirm_select()
        state = {"confirmed": 0, "sent": 0, "bad": 0}

        def on_ack(delivery_tag: int, multiple: bool = False) -> None:
            state["confirmed"] = delivery_tag if multiple else state["confirmed"] + 1

        def on_bad(*_args: object, **_kwargs: object) -> None:
            state["bad"] += 1

        ch.events["basic_ack"].add(on_ack)
        ch.events["basic_nack"].add(on_bad)
        ch.events["basic_return"].add(on_bad)
        start = time.perf_counter()
        deadline = start + timeout_s
        for body in bodies:
            while state["sent"] - state["confirmed"] >= window:
                conn.drain_events(timeout=max(deadline - time.perf_counter(), 0.001))
            ch.basic_publish(
                amqp.Message(body, content_type="application/json", delivery_mode=2, message_id=uuid.uuid4().hex),
                exchange=exchange, routing_key=routing_key, mandatory=True,
            )
            state["sent"] += 1
        while state["confirmed"] < state["sent"] and time.perf_counter() < deadline:
            try:
                conn.drain_events(timeout=max(deadline - time.perf_counter(), 0.001))
            except socket.timeout:
                break
        elapsed = time.perf_counter() - start
        if state["bad"] or state["confirmed"] < state["sent"]:
            raise RuntimeError(f"bare publish: {state['confirmed']} of {state['sent']} confirmed, "
                               f"{state['bad']} nacked or returned")
        return elapsed
    finally:
        conn.close()


def raw_amqp_consume(url: str, queue: str, count: int, *, prefetch: int = 1000, ack_every: int = 1,
                     timeout_s: float = 60.0) -> float:
    """Baseline: bare py-amqp consumer, manual acks, until ``count`` messages are acked. Seconds.

    ``ack_every=1`` acks each message; a larger value acks with
    ``multiple=True`` every ``ack_every`` messages (and the remainder at the end).
    """
    conn = _amqp_connection(url)
    try:
        ch = conn.channel()
        ch.basic_qos(0, prefetch, False)
        state = {"got": 0, "last_tag": 0, "acked": 0}

        def on_message(message: amqp.Message) -> None:
            state["got"] += 1
            tag = message.delivery_info["delivery_tag"]
            if ack_every <= 1:
                ch.basic_ack(tag)
                state["acked"] = state["got"]
            else:
                state["last_tag"] = tag
                if state["got"] - state["acked"] >= ack_every or state["got"] >= count:
                    ch.basic_ack(tag, multiple=True)
                    state["acked"] = state["got"]

        ch.basic_consume(queue, callback=on_message, no_ack=False)
        start = time.perf_counter()
        deadline = start + timeout_s
        while state["acked"] < count and time.perf_counter() < deadline:
            try:
                conn.drain_events(timeout=1)
            except socket.timeout:
                pass
        elapsed = time.perf_counter() - start
        if state["acked"] < count:
            raise RuntimeError(f"bare consume: {state['acked']} of {count} acked within {timeout_s}s")
        return elapsed
    finally:
        conn.close()


def pika_publish_confirmed(url: str, exchange: str, routing_key: str, bodies: Sequence[bytes]) -> float:
    """pika BlockingConnection with confirm_delivery (one confirm wait per message). Seconds."""
    import pika

    params = pika.URLParameters(url.rstrip("/") + "/%2F" if url.endswith("//") else url)
    conn = pika.BlockingConnection(params)
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        props = pika.BasicProperties(content_type="application/json", delivery_mode=2)
        start = time.perf_counter()
        for body in bodies:
            ch.basic_publish(exchange, routing_key, body, props, mandatory=True)
        return time.perf_counter() - start
    finally:
        conn.close()


def raw_kombu_consume(url: str, queue: str, count: int, prefetch: int = 100, timeout_s: float = 60.0) -> float:
    """Raw consume baseline: kombu consumer, manual ack per message, until ``count``. Seconds."""
    got = 0

    def on_message(message: kombu.Message) -> None:
        nonlocal got
        message.ack()
        got += 1

    with kombu.Connection(url) as conn:
        ch = conn.channel()
        ch.basic_qos(0, prefetch, False)
        consumer = kombu.Consumer(ch, queues=[kombu.Queue(queue, no_declare=True)], on_message=on_message,
                                  auto_declare=False)
        consumer.consume()
        start = time.perf_counter()
        deadline = start + timeout_s
        while got < count and time.perf_counter() < deadline:
            try:
                conn.drain_events(timeout=1)
            except socket.timeout:
                pass
        elapsed = time.perf_counter() - start
        consumer.cancel()
    return elapsed


def _purge(target: BenchTarget) -> None:
    ch = target.broker.link.channel()
    try:
        ch.queue_purge(target.queue)
    finally:
        ch.close()


def run(quick: bool) -> BenchReport:
    count = 300 if quick else 3000
    envs = synthetic_envelopes(count)
    codec = EnvelopeCodec(KEYS)
    bodies = [codec.encode(e) for e in envs]
    rows: list[BenchRow] = []
    metrics: dict[str, float | int | str | bool | dict[str, float | int | str | bool]] = {"messages": count}

    def rate(seconds: float) -> float:
        return count / seconds if seconds > 0 else float("inf")

    # Embedded transport, for reference.
    with bench_target("memory://") as target:
        out = [OutgoingMessage(envelope=e, exchange=target.exchange, routing_key=target.routing_key) for e in envs]
        start = time.perf_counter()
        target.broker.publish(out)
        metrics["memory_signed_msgs_per_s"] = round(rate(time.perf_counter() - start), 1)

    if not rabbitmq_reachable():
        metrics["rabbitmq"] = "unreachable"
        rows.append(BenchRow(label="memory:// Broker.publish (signed)", value=metrics["memory_signed_msgs_per_s"],
                             unit="msg/s", note="RabbitMQ unreachable: confirm comparison skipped"))
        return BenchReport(name=NAME, description="publisher confirms", rows=rows, metrics=metrics)

    with bench_target(AMQP_URL, publish_window=1000) as target:
        kombu_s = raw_kombu_publish_confirmed(AMQP_URL, target.exchange, target.routing_key, bodies)
        _purge(target)
        try:
            pika_s: float | None = pika_publish_confirmed(AMQP_URL, target.exchange, target.routing_key, bodies)
        except Exception as exc:  # noqa: BLE001 - pika is optional for this comparison
            pika_s = None
            metrics["pika_error"] = type(exc).__name__
        _purge(target)
        raws = [
            RawMessage(body=b, exchange=target.exchange, routing_key=target.routing_key, message_id=e.message_id,
                       message_type="enquiry")
            for b, e in zip(bodies, envs, strict=True)
        ]
        start = time.perf_counter()
        target.broker.publish_raw(raws)
        window_s = time.perf_counter() - start
        _purge(target)
        out = [OutgoingMessage(envelope=e, exchange=target.exchange, routing_key=target.routing_key) for e in envs]
        start = time.perf_counter()
        target.broker.publish(out)
        signed_s = time.perf_counter() - start
        _purge(target)
        small = bench_target  # a small window shows the effect of the window size
    with small(AMQP_URL, publish_window=10) as target10:
        start = time.perf_counter()
        target10.broker.publish_raw(raws_for(target10, bodies, envs))
        window10_s = time.perf_counter() - start

    metrics.update(
        {
            "kombu_confirm_msgs_per_s": round(rate(kombu_s), 1),
            "mashlink_window_msgs_per_s": round(rate(window_s), 1),
            "mashlink_window10_msgs_per_s": round(rate(window10_s), 1),
            "mashlink_signed_msgs_per_s": round(rate(signed_s), 1),
            "speedup_vs_kombu": round(kombu_s / window_s, 2),
        }
    )
    rows.append(BenchRow(label="kombu confirm_publish (baseline)", value=rate(kombu_s), unit="msg/s",
                         note="one confirm wait per message"))
    if pika_s is not None:
        metrics["pika_confirm_msgs_per_s"] = round(rate(pika_s), 1)
        rows.append(BenchRow(label="pika blocking confirm_delivery", value=rate(pika_s), unit="msg/s",
                             note=f"{kombu_s / pika_s:.2f}x kombu"))
    rows.append(BenchRow(label="mashlink window=10", value=rate(window10_s), unit="msg/s",
                         note=f"{kombu_s / window10_s:.2f}x kombu"))
    rows.append(BenchRow(label="mashlink window=1000", value=rate(window_s), unit="msg/s",
                         note=f"{kombu_s / window_s:.2f}x kombu"))
    rows.append(BenchRow(label="mashlink window=1000 + HMAC signing", value=rate(signed_s), unit="msg/s",
                         note=f"{kombu_s / signed_s:.2f}x kombu"))
    rows.append(BenchRow(label="memory:// Broker.publish (signed)", value=metrics["memory_signed_msgs_per_s"],
                         unit="msg/s", note="embedded, no confirms needed"))
    return BenchReport(
        name=NAME,
        description=f"{count} persistent mandatory messages to one quorum queue with publisher confirms",
        rows=rows,
        metrics=metrics,
        targets={"speedup_vs_kombu": ">= 2 on localhost (the gap grows with network round-trip time)"},
    )


def raws_for(target: BenchTarget, bodies: Sequence[bytes], envs: Sequence[Envelope]) -> list[RawMessage]:
    return [
        RawMessage(body=b, exchange=target.exchange, routing_key=target.routing_key, message_id=e.message_id,
                   message_type="enquiry")
        for b, e in zip(bodies, envs, strict=True)
    ]
