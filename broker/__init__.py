"""Messaging over kombu: topology, signed envelopes, confirmed publishing,
batch consuming with manual ack, retries, dead letters and replay.

One URL chooses RabbitMQ (``amqp://``) or the embedded transport
(``memory://``); the API and semantics are the same. The choice is made in
one place, :func:`~mashlink.broker.transport.open_transport`, which returns a
:class:`~mashlink.broker.transport.Transport` (publish with confirms,
consume, requeue, park, inspect): ``AmqpTransport`` (``broker/link.py``) or
``MemoryTransport`` (``broker/memory.py``).

Runtime knobs (confirm timeout, window, retries, back-off, reconnects) are
``settings.broker_runtime`` (:class:`~mashlink.config.settings.BrokerRuntimeSettings`).

Testing a handler without RabbitMQ: :class:`~mashlink.broker.testing.TestBroker`
publishes envelopes on a private ``memory://`` namespace and runs the handler
through the real consumer (signature check, validation, retries, parking)
until idle; ``tests/broker/test_test_broker.py`` shows it in use.
"""

from .client import Broker
from .codec import EnvelopeCodec
from .consumer import Consumer
from .errors import (
    BrokerError,
    MessageRejected,
    ParkedMessageNotFound,
    PublishError,
    RejectReason,
)
from .link import RawMessage
from .messages import (
    BatchHandler,
    Delivery,
    HandlerResult,
    OutgoingMessage,
    ParkedMessage,
    QueueStat,
    Verdict,
)
from .testing import TestBroker
from .topology import Topology
from .transport import Transport, open_transport

__all__ = [
    "BatchHandler",
    "Broker",
    "BrokerError",
    "Consumer",
    "Delivery",
    "EnvelopeCodec",
    "HandlerResult",
    "MessageRejected",
    "OutgoingMessage",
    "ParkedMessage",
    "ParkedMessageNotFound",
    "PublishError",
    "QueueStat",
    "RawMessage",
    "RejectReason",
    "TestBroker",
    "Topology",
    "Transport",
    "Verdict",
    "open_transport",
]
