"""Messaging over kombu: topology, signed envelopes, confirmed publishing,
batch consuming with manual ack, retries, dead letters and replay.

One URL chooses RabbitMQ (``amqp://``) or the embedded transport
(``memory://``); the API and semantics are the same.
"""

from mashlink.broker.client import Broker
from mashlink.broker.codec import EnvelopeCodec
from mashlink.broker.consumer import Consumer
from mashlink.broker.errors import (
    BrokerError,
    MessageRejected,
    ParkedMessageNotFound,
    PublishError,
    RejectReason,
)
from mashlink.broker.link import RawMessage
from mashlink.broker.messages import (
    BatchHandler,
    Delivery,
    HandlerResult,
    OutgoingMessage,
    ParkedMessage,
    QueueStat,
    Verdict,
)
from mashlink.broker.topology import Topology

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
    "Topology",
    "Verdict",
]
