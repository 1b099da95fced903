"""Referrals from an agency to the hub over the broker.

A partner agency's connector runs on the agency's side and has no access to
the hub's database, so a referral it raises (a police child-coming-to-notice
record, say) travels like everything else: a ``referral`` envelope signed
with the agency's key, published with confirms to the events exchange
(``referral.<agency>``), where the hub's events consumer stores it, audits it
and fans it out in one transaction.

The message id is derived from the agency and the referral id, so sending the
same referral again (a re-read export, a restart) is one effect at the hub.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from ..broker.client import Broker
from ..broker.shared_publisher import SharedPublisher
from ..config.settings import HUB_SENDER_ID
from .base import CONNECTOR_NAMESPACE
from ..schemas.envelope import Envelope, MessageType
from ..schemas.referral import Referral


class ReferralSink(Protocol):
    """Where an intake puts referrals: True when accepted now, False when the hub already had it."""

    def submit(self, referral: Referral, *, agencies: Sequence[str] | None, actor: str) -> bool: ...


def referral_message_id(agency_id: str, referral_id: str) -> str:
    return uuid.uuid5(CONNECTOR_NAMESPACE, f"referral:{agency_id}:{referral_id}").hex


class BrokerReferralSink:
    """Signed ``referral`` envelopes to the hub over the broker, one confirmed publish each.

    The hub decides the fan-out (every enabled agency), so ``agencies`` must be
    None; a connection that fails is replaced on the next call and the error
    raised to the caller, who keeps the referral to send again.
    """

    def __init__(self, broker_factory: Callable[[], Broker], agency_id: str, *, hub_id: str = HUB_SENDER_ID) -> None:
        self.agency_id = agency_id
        self.hub_id = hub_id
        self._publisher = SharedPublisher(broker_factory)

    def envelope(self, referral: Referral) -> Envelope:
        return Envelope(
            message_id=referral_message_id(self.agency_id, referral.referral_id),
            correlation_id=referral.referral_id, message_type=MessageType.REFERRAL, sender=self.agency_id,
            recipient=self.hub_id, sent_at=datetime.now(UTC), rag=referral.rag,
            body=referral.model_dump(mode="json"),
        )

    def submit(self, referral: Referral, *, agencies: Sequence[str] | None = None, actor: str = "") -> bool:
        if agencies:
            raise ValueError("agencies: the hub chooses the agencies for a referral sent over the broker")
        env = self.envelope(referral)
        self._publisher.publish(lambda topology: [topology.event(env, f"referral.{self.agency_id}")])
        return True

    def close(self) -> None:
        self._publisher.close()
