"""The embedded ``memory://`` transport: kombu's in-process broker, with RabbitMQ's semantics where we rely on them.

Reachable only from the process that opened it, so it serves one machine
(``mashlink demo``) and tests; :func:`mashlink.broker.transport.open_transport`
picks it for a ``memory://`` URL. Where kombu's virtual transport differs
from RabbitMQ, this class makes it behave the same:

* A publish is a synchronous in-process put, so it is "confirmed" when it
  returns; ``mandatory`` is emulated by resolving the route first, so an
  unroutable message is a failure on both transports.
* kombu drops unacked messages when a channel closes (``do_restore = False``)
  and its own restore re-routes through the exchange (duplicating topic
  deliveries); :meth:`MemoryTransport.give_back` puts a message back on the
  exact queue it came from, marked redelivered.
* Its channel ignores ``multiple`` on an ack, so deliveries are acked one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import kombu

from .link import CONTENT_TYPE, KombuLink, RawMessage


class MemoryTransport(KombuLink):
    """kombu's ``memory://`` transport in this process: no hosts, heartbeats, TLS or confirms to wait for."""

    embedded = True
    multiple_ack = False

    def __init__(self, url: str = "memory://", *, polling_interval_s: float = 0.01) -> None:
        super().__init__(url, [url])
        self.polling_interval_s = polling_interval_s

    def _new_connection(self, index: int | None = None) -> kombu.Connection:
        return kombu.Connection(self.url, transport_options={"polling_interval": self.polling_interval_s})

    def give_back(self, channel: Any, message: Any, queue: str) -> None:
        requeue_memory(channel, message, queue)

    def publish(self, messages: Sequence[RawMessage]) -> tuple[set[int], dict[int, str]]:
        """Put each message on the queues its route reaches; one that reaches none is failed as unroutable."""
        if not messages:
            return set(), {}
        if self._pub is None:
            self._pub = self.connection.channel()
        ch = self._pub
        confirmed: set[int] = set()
        failed: dict[int, str] = {}
        for index, m in enumerate(messages):
            if not memory_routes(ch, m.exchange, m.routing_key):
                failed[index] = f"unroutable: exchange {m.exchange!r} routing key {m.routing_key!r}"
                continue
            props: dict[str, Any] = {"delivery_mode": 2, "message_id": m.message_id}
            if m.message_type:
                props["type"] = m.message_type
            msg = ch.prepare_message(
                m.body, content_type=CONTENT_TYPE, headers=dict(m.headers), properties=props
            )
            ch.basic_publish(msg, exchange=m.exchange, routing_key=m.routing_key)
            confirmed.add(index)
        return confirmed, failed

def memory_routes(ch: Any, exchange: str, routing_key: str) -> set[str]:
    """Queues a memory:// publish would reach (empty = unroutable)."""
    if not exchange:
        return {routing_key} if ch._has_queue(routing_key) else set()
    try:
        table = ch.get_table(exchange)
    except KeyError:
        return set()
    found = ch.typeof(exchange).lookup(table, exchange, routing_key, None)
    return {q for q in found if q and ch._has_queue(q)}


def requeue_memory(ch: Any, message: Any, queue: str) -> None:
    """Put an unacked memory:// message back on ``queue`` and drop our hold on it.

    The memory transport does not restore unacked messages when a channel
    closes (``do_restore = False``), and its own restore re-routes through the
    exchange (duplicating topic deliveries); this puts the message back on the
    exact queue it came from, marked redelivered.
    """
    raw = message.serializable()
    props = dict(raw["properties"])
    props["delivery_info"] = dict(props.get("delivery_info") or {}, redelivered=True)
    props["delivery_tag"] = ch._next_delivery_tag()
    raw["properties"] = props
    ch._put(queue, raw)
    message.ack()
