"""The ADT side of a running health connector process: listen, watch, alert, forget.

Wired together by ``connectors.health.wiring`` when ``options.adt_listen`` is set:

* ``AdtListener``: the MLLP listener the trust's integration engine sends
  ADT to; each message goes through ``AdtFeed`` (ACK/NAK semantics included).
* ``AlertPublisher``: ``AdtFeed.publish_alert``. Publishes an ``Alert``
  envelope on the events exchange (``alert.<kind>``), signed by the agency's
  codec, and returns only once the broker confirmed it. If it raises, the
  feed NAKs the HL7 message and the engine re-sends it; the alert id is
  deterministic, so a re-send after a lost ACK is stored once by the hub.
* ``WatchingConnector``: wraps the agency connector so that every enquiry it
  receives puts its subjects (trusted identifiers only) on the watch list
  before it is answered.
* ``ReferralClosedEffect``: the local effect the agency events consumer
  (``connectors.events``) runs for every event it delivers: the outcome (or
  decision) of a referral takes its children off the watch list and stops
  polling its Tasks. ``AgencyEventsListener`` is the older consumer that
  did only this (kept for callers that want no delivery to people).
* ``FhirCpFlagWatchList``: children with an active child-protection Flag on
  the trust's FHIR server are watched too (the CP-IS idea), looked up only
  when a child actually attends an ED.
"""

from __future__ import annotations

import ssl
import threading
import uuid
from datetime import UTC, datetime
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from ...broker.client import Broker
from ...broker.factory_type import BrokerFactory
from ...broker.shared_publisher import SharedPublisher
from ...broker.errors import RejectReason
from ...broker.messages import Delivery, HandlerResult
from ...config.settings import HUB_SENDER_ID
from ..base import CONNECTOR_NAMESPACE, AgencyConnector
from .adt import AdtFeed, WatchedSubject, WatchList
from .fhir_client import FhirClient
from .fhir_translate import FhirMappingOptions, classify_flag
from .mllp import MllpSettings, ThreadedMllpServer
from .state import HealthState
from ...schemas.codes import AgencyKind
from ...schemas.enquiry import Enquiry, EnquiryResponse
from ...schemas.envelope import Envelope, MessageType
from ...schemas.events import Alert
from ...schemas.identifiers import Identifier, IdentifierSystem

log = structlog.get_logger("mashlink.connectors.health.adt_service")


def alert_message_id(alert_id: str) -> str:
    """Envelope id of an alert: same alert, same message (the hub's inbox drops repeats)."""
    return str(uuid.uuid5(CONNECTOR_NAMESPACE, f"alert-message:{alert_id}"))


class AlertPublisher:
    """Publishes alerts with confirms over one broker connection used under a lock.

    The MLLP handler threads call it concurrently; kombu connections are not
    thread-safe. A broken connection is dropped and replaced on the next call.
    """

    def __init__(self, broker_factory: BrokerFactory, agency_id: str, *, hub_id: str = HUB_SENDER_ID) -> None:
        self.agency_id = agency_id
        self.hub_id = hub_id
        self._publisher = SharedPublisher(broker_factory)
        self._count_lock = threading.Lock()
        self.published = 0

    def envelope(self, alert: Alert) -> Envelope:
        return Envelope(
            message_id=alert_message_id(alert.alert_id), correlation_id=alert.referral_id or alert.alert_id,
            enquiry_id=alert.enquiry_id, message_type=MessageType.ALERT, sender=self.agency_id,
            recipient=self.hub_id, sent_at=datetime.now(UTC), body=alert.model_dump(mode="json"),
        )

    def __call__(self, alert: Alert) -> None:
        env = self.envelope(alert)
        self._publisher.publish(lambda topology: [topology.event(env, f"alert.{alert.kind.value}")])
        with self._count_lock:
            self.published += 1

    def close(self) -> None:
        self._publisher.close()


class WatchingConnector:
    """An ``AgencyConnector`` that watches every enquiry's subjects, then lets ``inner`` answer."""

    def __init__(self, inner: AgencyConnector, state: HealthState) -> None:
        self.inner = inner
        self.state = state
        self.agency_id = inner.agency_id
        self.agency_kind: AgencyKind = inner.agency_kind

    def handle(self, enquiry: Enquiry) -> list[EnquiryResponse]:
        added = self.state.watch_enquiry(enquiry)
        if added:
            log.info("adt.watching", enquiry_id=enquiry.enquiry_id, identifiers=added)
        return self.inner.handle(enquiry)


class CompositeWatchList:
    """Several watch lists answered as one (open enquiries, CP flags)."""

    def __init__(self, lists: Sequence[WatchList]) -> None:
        self.lists = list(lists)

    def lookup(self, identifiers: Sequence[Identifier]) -> list[WatchedSubject]:
        found: list[WatchedSubject] = []
        for watch_list in self.lists:
            for subject in watch_list.lookup(identifiers):
                if subject not in found:
                    found.append(subject)
        return found


class FhirCpFlagWatchList:
    """Children with an active child-protection Flag on the trust's FHIR server.

    ``person_ref`` is the trust's own reference (``<agency>:Patient/<id>``),
    never a name or NHS number. A FHIR failure raises, so the ADT message is
    NAKed and re-sent rather than an alert being silently missed.
    """

    def __init__(self, client: FhirClient, agency_id: str, mapping: FhirMappingOptions | None = None) -> None:
        self.client = client
        self.agency_id = agency_id
        self.mapping = mapping or FhirMappingOptions()

    def _is_cp(self, flag: dict[str, Any]) -> bool:
        """An active Flag the translator classifies as child protection (code lists, markers or text)."""
        if flag.get("status") != "active":
            return False
        return classify_flag(flag, self.mapping)[0] == "child_protection"

    def lookup(self, identifiers: Sequence[Identifier]) -> list[WatchedSubject]:
        found: list[WatchedSubject] = []
        for ident in identifiers:
            if ident.system is not IdentifierSystem.NHS_NUMBER or not ident.trusted:
                continue
            for patient in self.client.search_patient_by_nhs_number(ident.value):
                flags = self.client.search("Flag", {"patient": f"Patient/{patient['id']}"})
                if any(self._is_cp(f) for f in flags):
                    subject = WatchedSubject(person_ref=f"{self.agency_id}:Patient/{patient['id']}",
                                             reason="child_protection_flag")
                    if subject not in found:
                        found.append(subject)
        return found


class AdtListener:
    """The MLLP listener for the ADT feed, as a start/stop service of the connector process."""

    name = "adt-listener"

    def __init__(self, feed: AdtFeed, host: str, port: int, settings: MllpSettings, *,
                 validate: bool = False, application: str = "MASHLINK",
                 on_stop: Callable[[], None] | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
        self.feed = feed
        self.server = ThreadedMllpServer(feed.receiver(validate=validate, application=application), host, port,
                                         settings, ssl_context)
        self.on_stop = on_stop

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def host(self) -> str:
        return self.server.host

    def start(self) -> None:
        self.server.start()
        log.info("adt.listening", host=self.server.host, port=self.server.port)

    def stop(self) -> None:
        self.server.stop()
        if self.on_stop is not None:
            self.on_stop()


class ReferralClosedEffect:
    """An outcome or decision closes the referral locally: unwatch its children, stop polling its Tasks.

    Idempotent (the events consumer may run it again for a redelivered event);
    other event kinds have no local effect.
    """

    def __init__(self, state: HealthState) -> None:
        self.state = state
        self.closed_referrals: list[str] = []

    def close(self, kind: str, referral_id: str) -> None:
        removed = self.state.forget_referral(referral_id)
        closed = self.state.close_referral_tasks(referral_id, f"{kind} received")
        self.closed_referrals.append(referral_id)
        log.info("health.referral_closed", referral_id=referral_id, unwatched=removed, tasks_closed=len(closed))

    def __call__(self, event: Any) -> None:
        """``connectors.events.consumer.LocalEffect``: takes an ``AgencyEvent``."""
        if event.kind in (MessageType.OUTCOME.value, MessageType.DECISION.value):
            self.close(event.kind, event.referral_id)


class AgencyEventsListener:
    """Consumes the agency's events queue: an outcome or decision closes the referral locally.

    Runs in its own thread with its own broker connection; restarts after a
    broker failure until stopped. Escalations and anything else are
    acknowledged without effect (they are for people, not for this process).
    """

    name = "agency-events"

    def __init__(self, broker_factory: BrokerFactory, agency_id: str, state: HealthState, *,
                 restart_backoff_s: float = 1.0) -> None:
        self.broker_factory = broker_factory
        self.agency_id = agency_id
        self.state = state
        self.restart_backoff_s = restart_backoff_s
        self.effect = ReferralClosedEffect(state)
        self.closed_referrals = self.effect.closed_referrals
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    def handle(self, deliveries: list[Delivery]) -> list[HandlerResult]:
        results: list[HandlerResult] = []
        for delivery in deliveries:
            env = delivery.envelope
            if env.message_type not in (MessageType.OUTCOME, MessageType.DECISION):
                results.append(HandlerResult.ack())
                continue
            referral_id = env.body.get("referral_id") if isinstance(env.body, dict) else None
            if not isinstance(referral_id, str) or not referral_id:
                results.append(HandlerResult.reject(RejectReason.INVALID_BODY,
                                                    f"{env.message_type.value}: body.referral_id is required"))
                continue
            self.effect.close(env.message_type.value, referral_id)
            results.append(HandlerResult.ack())
        return results

    def _run(self) -> None:
        while not self._stop.is_set():
            broker: Broker | None = None
            try:
                broker = self.broker_factory()
                broker.ensure_agency_queues(self.agency_id)
                consumer = broker.consumer([broker.topology.agency_events_queue(self.agency_id)], self.handle,
                                           prefetch=50, max_batch=50, name=f"{self.agency_id}:events")
                self._ready.set()
                consumer.run(self._stop)
            except Exception as exc:  # noqa: BLE001 - outlive broker outages
                log.error("health.events_listener_failed", error=type(exc).__name__)
                self._ready.set()
                self._stop.wait(self.restart_backoff_s)
            finally:
                if broker is not None:
                    try:
                        broker.close()
                    except Exception:  # noqa: BLE001
                        pass

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("events listener already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"{self.agency_id}-events", daemon=True)
        self._thread.start()
        self._ready.wait(30)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
