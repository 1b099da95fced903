"""Delivery receipts on the events exchange: ``receipt.<agency>``, signed by the agency.

Ids are deterministic: the receipt id is derived from the event's message id,
the agency that received it and the status, and the envelope id from the
receipt id, so re-publishing a receipt (after a crash, or for a redelivered
event) is one effect at the hub. The agency is part of the id because one
event can be fanned out to several agencies (an escalation, an alert on the
events exchange): without it the hub, which keys receipts by id, would keep
only the first agency's receipt and take the others for repeats.
A publish raises when the broker did not confirm; callers keep the event
unacknowledged (or the acknowledgement unrecorded) and try again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from ...broker.client import Broker
from ...broker.shared_publisher import SharedPublisher
from ...config.settings import HUB_SENDER_ID
from ..base import CONNECTOR_NAMESPACE
from ...schemas.envelope import Envelope, MessageType
from ...schemas.receipt import DeliveryReceipt, ReceiptStatus


def receipt_id(event_message_id: str, agency_id: str, status: ReceiptStatus | str) -> str:
    """Stable per (event, receiving agency, status): the same receipt however often it is sent.

    ``agency_id`` is the receipt's ``agency_id`` (``referrer`` for the referrer notifier).
    """
    if not agency_id:
        raise ValueError("receipt_id: agency_id must not be empty (receipts of a fanned-out event would collide)")
    return uuid.uuid5(CONNECTOR_NAMESPACE,
                      f"receipt:{event_message_id}:{agency_id}:{ReceiptStatus(status).value}").hex


def receipt_message_id(rid: str) -> str:
    return uuid.uuid5(CONNECTOR_NAMESPACE, f"receipt-message:{rid}").hex


def build_receipt(*, event_message_id: str, event_type: str, referral_id: str, outcome_id: str | None,
                  agency_id: str, status: ReceiptStatus, channel: str, detail: str = "",
                  at: datetime | None = None) -> DeliveryReceipt:
    return DeliveryReceipt(
        receipt_id=receipt_id(event_message_id, agency_id, status), event_message_id=event_message_id,
        event_type=event_type[:32], referral_id=referral_id, outcome_id=outcome_id, agency_id=agency_id,
        status=status, channel=channel[:32], detail=detail[:500], at=at or datetime.now(UTC),
    )


class ReceiptPublisher:
    """Publishes receipts with confirms from any thread (one shared connection under a lock).

    ``sender`` is who signs: the agency itself for a connector; the referrer
    notifier (a MASH-side process with no agency of its own) signs as the hub.
    """

    def __init__(self, broker_factory: Callable[[], Broker], sender: str, *, hub_id: str = HUB_SENDER_ID) -> None:
        self.sender = sender
        self.hub_id = hub_id
        self._publisher = SharedPublisher(broker_factory)
        self.published = 0

    def envelope(self, receipt: DeliveryReceipt, *, causation_id: str | None = None) -> Envelope:
        return Envelope(
            message_id=receipt_message_id(receipt.receipt_id), correlation_id=receipt.referral_id,
            causation_id=causation_id or receipt.event_message_id, message_type=MessageType.RECEIPT,
            sender=self.sender, recipient=self.hub_id, sent_at=datetime.now(UTC),
            body=receipt.model_dump(mode="json"),
        )

    def publish(self, receipt: DeliveryReceipt) -> Envelope:
        """Publish on ``receipt.<agency_id>``; raises PublishError / BrokerError when not confirmed."""
        env = self.envelope(receipt)
        self._publisher.publish(lambda topology: [topology.event(env, f"receipt.{receipt.agency_id}")])
        self.published += 1
        return env

    def close(self) -> None:
        self._publisher.close()
