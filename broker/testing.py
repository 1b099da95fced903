"""An in-memory broker for handler tests: no RabbitMQ, the real consumer path.

In the spirit of FastStream's ``TestBroker``: a test publishes envelopes,
runs its handler over a queue until the queue is idle, and looks at what
was acked, retried and parked. Everything a handler sees in service happens
here too (signature check, body validation, batching, retries with their
attempt counter, parking with reasons, ``on_reject``), because it is the
same :class:`~mashlink.broker.consumer.Consumer` on the ``memory://``
transport, in a namespace of its own so tests never see each other's
messages. Retries wait no back-off unless asked to.

Example (a handler test)::

    with TestBroker(EnvelopeCodec(keys), agencies=["police-synth"]) as tb:
        tb.publish([tb.topology.enquiry(envelope)])
        tb.deliver(tb.topology.enquiry_queues("police-synth"), handler)
        assert tb.parked() == []
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from .client import Broker
from .codec import EnvelopeCodec
from .consumer import RejectHook
from .messages import BatchHandler, OutgoingMessage, ParkedMessage
from .topology import Topology
from ..config.settings import BrokerRuntimeSettings

#: No back-off between retries: a test's retries run within one ``deliver``.
TEST_RUNTIME = BrokerRuntimeSettings(retry_backoff_s=0.0, retry_backoff_max_s=0.0, polling_interval_s=0.001)


class TestBroker:
    """A declared, private ``memory://`` broker; ``deliver`` runs a handler until its queues are idle."""

    __test__ = False  # not a pytest test class despite its name

    def __init__(self, codec: EnvelopeCodec, *, agencies: Iterable[str] = (), topology: Topology | None = None,
                 settings: BrokerRuntimeSettings = TEST_RUNTIME, **overrides: Any) -> None:
        self.topology = topology or Topology(f"test{uuid.uuid4().hex[:12]}")
        self.agencies = list(agencies)
        self.broker = Broker("memory://", codec, self.topology, settings=settings, **overrides)
        self.broker.declare(self.agencies)

    def publish(self, messages: Sequence[OutgoingMessage]) -> None:
        """Sign and publish, as a service would (raises ``PublishError`` for an unroutable message)."""
        self.broker.publish(messages)

    def deliver(self, queues: Sequence[str] | str, handler: BatchHandler, *, timeout_s: float = 5.0,
                max_batch: int = 100, on_reject: RejectHook | None = None) -> int:
        """Consume ``queues`` with ``handler`` until nothing is left to do (or ``timeout_s``); returns how many.

        Due retries are run within the call, so a handler that fails twice
        and then succeeds is seen three times before this returns.
        """
        names = [queues] if isinstance(queues, str) else list(queues)
        consumer = self.broker.consumer(names, handler, max_batch=max_batch, name="test-broker")
        consumer.on_reject = on_reject
        try:
            return consumer.run_once(timeout_s)
        finally:
            consumer.close()

    def ready(self, queue: str) -> int:
        """Messages waiting on ``queue`` (-1: no such queue)."""
        return self.broker.queue_stats([queue])[0].messages

    def parked(self, queue: str | None = None) -> list[ParkedMessage]:
        """Messages parked in ``queue``'s dead-letter queue, or in every declared one."""
        return self.broker.dlq_list(queue)

    def close(self) -> None:
        """Delete this broker's queues and exchanges and close its connection."""
        try:
            self.broker.delete_topology(self.agencies)
        finally:
            self.broker.close()

    def __enter__(self) -> TestBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
