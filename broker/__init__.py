"""Messaging over kombu: topology, signed envelopes, confirmed publishing,
batch consuming with manual ack, retries, dead letters and replay.

One URL chooses RabbitMQ (``amqp://``) or the embedded transport
(``memory://``); the API and semantics are the same.
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
from .topology import Topology

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
