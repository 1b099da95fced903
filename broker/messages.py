"""Value types that cross the broker API: what goes out, what comes in, verdicts.

Kept free of any transport so hub and connector code can build and test
handlers without a broker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from .errors import RejectReason
from ..schemas.envelope import Envelope


class OutgoingMessage(BaseModel):
    """An envelope with the route it must take (built by :class:`Topology`)."""

    model_config = ConfigDict(frozen=True)

    envelope: Envelope
    exchange: str
    routing_key: str


@dataclass
class Delivery:
    """One received, verified message handed to a handler.

    ``attempts`` is 1 on the first delivery and counts retries and
    redeliveries. ``body`` is the validated body model (``EnvelopeCodec.body``)
    so handlers need not validate again.
    """

    envelope: Envelope
    queue: str
    redelivered: bool
    attempts: int
    body: BaseModel | None = None

    @property
    def message_id(self) -> str:
        return self.envelope.message_id


class Verdict(StrEnum):
    ACK = "ack"
    RETRY = "retry"
    REJECT = "reject"


@dataclass
class HandlerResult:
    """What the handler decided for one delivery; REJECT parks it with ``reason``."""

    verdict: Verdict
    reason: RejectReason | None = None
    detail: str = ""

    @classmethod
    def ack(cls) -> HandlerResult:
        return cls(Verdict.ACK)

    @classmethod
    def retry(cls, detail: str = "") -> HandlerResult:
        return cls(Verdict.RETRY, None, detail)

    @classmethod
    def reject(cls, reason: RejectReason, detail: str = "") -> HandlerResult:
        return cls(Verdict.REJECT, reason, detail)


#: One result per delivery, same order. The handler commits its effects before
#: returning; the broker acknowledges only afterwards.
BatchHandler = Callable[[list[Delivery]], list[HandlerResult]]


class ParkedMessage(BaseModel):
    """A message in a dead-letter queue, as shown by ``mashlink dlq list|show``."""

    message_id: str
    queue: str  # the queue it was consumed from (replay target)
    dlq: str
    reason: RejectReason
    detail: str = ""
    parked_at: datetime | None = None
    attempts: int = 0
    message_type: str | None = None
    original_exchange: str = ""
    original_routing_key: str = ""
    raw: str  # the original body text (UTF-8, undecodable bytes replaced)


class QueueStat(BaseModel):
    name: str
    messages: int
    consumers: int
