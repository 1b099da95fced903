"""Publishing responses outside ``handle()``: the agency answered later.

The connector runtime publishes what ``handle()`` returns and nothing else;
Model 3 answers arrive asynchronously (a web-hook POST, a file in an inbox),
so they need their own publisher. It keeps the runtime's guarantees:

* the envelope ``message_id`` is deterministic (uuid5 of agency, enquiry id
  and response sequence), so an answer received twice (the agency retried,
  the inbox file was re-read after a crash) yields the same message id and
  the hub's inbox drops the repeat;
* the envelope is signed by the agency's codec (the broker encodes with the
  sender's key) and published with broker confirms: :meth:`publish` returns
  only once the broker has the message, and raises ``PublishError``
  otherwise, so the caller keeps the answer (HTTP 503 / file left in the
  inbox) and nothing is lost.

One broker connection, used under a lock: kombu connections are not
thread-safe and answers may come from the HTTP server's threads and the
inbox poller at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from ...broker.client import Broker
from ...broker.shared_publisher import SharedPublisher
from ...config.settings import HUB_SENDER_ID
from ..base import CONNECTOR_NAMESPACE
from .pending import PendingEnquiry
from ...schemas.enquiry import EnquiryResponse
from ...schemas.envelope import Envelope, MessageType


def answer_message_id(agency_id: str, enquiry_id: str, sequence: int) -> str:
    """Envelope id of the response with ``sequence`` built from an agency's later answer."""
    return str(uuid.uuid5(CONNECTOR_NAMESPACE, f"answer-message:{agency_id}:{enquiry_id}:{sequence}"))


class AnswerPublisher:
    def __init__(self, broker_factory: Callable[[], Broker], agency_id: str, *, hub_id: str = HUB_SENDER_ID) -> None:
        self.agency_id = agency_id
        self.hub_id = hub_id
        self._publisher = SharedPublisher(broker_factory)

    def envelope(self, response: EnquiryResponse, pending: PendingEnquiry) -> Envelope:
        return Envelope(
            message_id=answer_message_id(self.agency_id, response.enquiry_id, response.sequence),
            correlation_id=response.referral_id,
            enquiry_id=response.enquiry_id,
            message_type=MessageType.ENQUIRY_RESPONSE,
            sender=self.agency_id,
            recipient=self.hub_id,
            sent_at=datetime.now(UTC),
            due_at=pending.due_at,
            rag=pending.rag,
            body=response.model_dump(mode="json"),
        )

    def publish(self, response: EnquiryResponse, pending: PendingEnquiry) -> Envelope:
        """Publish with confirms; raises PublishError (the caller keeps the answer and retries)."""
        env = self.envelope(response, pending)
        self._publisher.publish(lambda topology: [topology.response(env)])
        return env

    def close(self) -> None:
        self._publisher.close()
