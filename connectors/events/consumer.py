"""The agency events consumer: deliver each event into the agency's tool, then say so with a receipt.

Per delivery from ``<ns>.events.<agency>`` (one at a time, in queue order):

1. :func:`.decode.decode_event` checks it is a hub event for this agency;
   anything else is parked with the reason (never acknowledged unread);
2. an event already ``delivered`` / ``acknowledged`` in the :class:`EventStore`
   is not sent again: its receipt is re-published (same receipt id, one
   effect at the hub) and it is acknowledged;
3. otherwise the event is rendered from the agency kind's template and handed
   to the channel; on success the store records it (fsynced), the local
   effects run (the health connector stops watching the referral's children
   and polling its Tasks), the ``delivered`` receipt is published with
   confirms, and only then is the event acknowledged;
4. a transient failure is retried by the broker consumer with back-off; after
   ``max_attempts`` (or at once for a permanent failure) the store records
   ``failed``, the ``failed`` receipt is published with the reason and the
   event is parked (``processing_failure``) for ``mashlink dlq replay``.

A receipt that the broker did not confirm makes the event RETRY: the next
delivery finds it in the store and only re-publishes the receipt.

:class:`AgencyEventsConsumer` is the connector process's background service
(``agency-events``): the consumer thread, and an acknowledgement scan thread
for channels that can see acknowledgements (a drop folder's ``processed/``,
a FHIR Task completed). Logs carry ids, codes, channel names and statuses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from ...broker.client import Broker
from ...broker.errors import BrokerError, RejectReason
from ...broker.messages import Delivery, HandlerResult
from ...config.settings import HUB_SENDER_ID
from .channels import (
    Delivered,
    EventChannel,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from .decode import AgencyEvent, EventRejected, decode_event
from .receipts import ReceiptPublisher, build_receipt
from .render import EventRenderer
from .store import DONE, EventStore, StoredEvent
from ..referrer.render import TemplateProblem
from ...schemas.receipt import ReceiptStatus

log = structlog.get_logger(__name__)

#: Delivered events looked at per acknowledgement scan pass (``options.events.ack_scan_batch``).
DEFAULT_ACK_SCAN_BATCH = 500

#: Something the connector does locally when an event arrives (idempotent: it may run again on redelivery).
LocalEffect = Callable[[AgencyEvent], None]


@dataclass
class EventStats:
    delivered: int = 0
    duplicates: int = 0
    retried: int = 0
    failed: int = 0
    rejected: int = 0
    acknowledged: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


class EventsHandler:
    """The BatchHandler of one agency's events queue."""

    def __init__(self, agency_id: str, channel: EventChannel, renderer: EventRenderer, store: EventStore,
                 receipts: ReceiptPublisher, *, max_attempts: int = 5, hub_id: str = HUB_SENDER_ID,
                 effects: Sequence[LocalEffect] = (), ack_scan_batch: int = DEFAULT_ACK_SCAN_BATCH) -> None:
        self.agency_id = agency_id
        self.channel = channel
        self.renderer = renderer
        self.store = store
        self.receipts = receipts
        self.max_attempts = max_attempts
        self.hub_id = hub_id
        self.effects = list(effects)
        if ack_scan_batch < 1:
            raise ValueError("ack_scan_batch must be at least 1")
        self.ack_scan_batch = ack_scan_batch
        #: Where the next acknowledgement scan pass starts (a row position; None: the oldest).
        self._ack_cursor: tuple[str, str] | None = None
        self.stats = EventStats()
        self._lock = threading.Lock()
        self._log = log.bind(agency_id=agency_id, channel=channel.name)

    def _count(self, key: str, kind: str | None = None) -> None:
        with self._lock:
            setattr(self.stats, key, getattr(self.stats, key) + 1)
            if kind is not None:
                self.stats.by_kind[kind] = self.stats.by_kind.get(kind, 0) + 1

    def __call__(self, deliveries: list[Delivery]) -> list[HandlerResult]:
        return [self.handle(d) for d in deliveries]

    # ---- receipts --------------------------------------------------------------
    def _receipt(self, event: AgencyEvent | StoredEvent, status: ReceiptStatus, detail: str) -> None:
        self.receipts.publish(build_receipt(
            event_message_id=event.message_id, event_type=event.kind, referral_id=event.referral_id,
            outcome_id=event.outcome_id, agency_id=self.agency_id, status=status, channel=self.channel.name,
            detail=detail))

    def _effects(self, event: AgencyEvent) -> None:
        for effect in self.effects:
            effect(event)

    # ---- one delivery --------------------------------------------------------------
    def handle(self, delivery: Delivery) -> HandlerResult:
        try:
            event = decode_event(delivery, self.agency_id, self.hub_id)
        except EventRejected as exc:
            self._count("rejected")
            self._log.warning("events.rejected", message_id=delivery.envelope.message_id, reason=exc.reason.value,
                              detail=exc.detail)
            return HandlerResult.reject(exc.reason, exc.detail)
        ids = {"message_id": event.message_id, "referral_id": event.referral_id, "event_type": event.kind}
        stored = self.store.get(event.message_id)
        if stored is not None and stored.status in DONE:
            return self._duplicate(event, stored, ids, delivery.attempts)
        try:
            message = self.renderer.render(event)
            delivered = self.channel.send(event, message)
        except (PermanentDeliveryError, TemplateProblem) as exc:
            return self._fail(event, str(exc), delivery.attempts, ids)
        except TransientDeliveryError as exc:
            return self._transient(event, str(exc), delivery.attempts, ids)
        except Exception as exc:  # noqa: BLE001 - an unexpected failure is retried, then failed and parked
            return self._transient(event, f"{type(exc).__name__} in channel", delivery.attempts, ids)
        return self._delivered(event, delivered, delivery.attempts, ids)

    def _delivered(self, event: AgencyEvent, delivered: Delivered, attempts: int,
                   ids: dict[str, str]) -> HandlerResult:
        status = "acknowledged" if delivered.acknowledged else "delivered"
        self.store.record(message_id=event.message_id, kind=event.kind, referral_id=event.referral_id,
                          outcome_id=event.outcome_id, channel=self.channel.name, status=status,
                          ref=delivered.ref, detail=delivered.detail, attempts=attempts)
        self._count("delivered", event.kind)
        self._log.info("events.delivered", **ids, detail=delivered.detail, attempts=attempts)
        try:
            self._effects(event)
            self._receipt(event, ReceiptStatus.DELIVERED, delivered.detail)
            if delivered.acknowledged:
                self._receipt(event, ReceiptStatus.ACKNOWLEDGED, "acknowledged in the web hook reply")
                self._count("acknowledged")
        except Exception as exc:  # noqa: BLE001 - receipt not confirmed: redelivery re-publishes it only
            self._count("retried")
            self._log.warning("events.receipt_not_confirmed", **ids, error=type(exc).__name__)
            return HandlerResult.retry(f"{type(exc).__name__} publishing the receipt")
        return HandlerResult.ack()

    def _duplicate(self, event: AgencyEvent, stored: StoredEvent, ids: dict[str, str],
                   attempts: int) -> HandlerResult:
        self._count("duplicates")
        self._log.info("events.duplicate", **ids, status=stored.status, attempts=attempts)
        try:
            self._effects(event)
            self._receipt(event, ReceiptStatus.DELIVERED, stored.detail if stored.status == "delivered"
                          else "delivered")
            if stored.status == "acknowledged":
                self._receipt(event, ReceiptStatus.ACKNOWLEDGED, stored.detail)
        except Exception as exc:  # noqa: BLE001
            self._log.warning("events.receipt_not_confirmed", **ids, error=type(exc).__name__)
            return HandlerResult.retry(f"{type(exc).__name__} publishing the receipt")
        return HandlerResult.ack()

    def _transient(self, event: AgencyEvent, reason: str, attempts: int, ids: dict[str, str]) -> HandlerResult:
        if attempts >= self.max_attempts:
            return self._fail(event, f"gave up after {attempts} attempt(s); last error: {reason}", attempts, ids)
        self._count("retried")
        self._log.warning("events.retry", **ids, attempts=attempts, detail=reason)
        return HandlerResult.retry(reason)

    def _fail(self, event: AgencyEvent, reason: str, attempts: int, ids: dict[str, str]) -> HandlerResult:
        self.store.record(message_id=event.message_id, kind=event.kind, referral_id=event.referral_id,
                          outcome_id=event.outcome_id, channel=self.channel.name, status="failed",
                          detail=reason, attempts=attempts)
        try:
            self._effects(event)
            self._receipt(event, ReceiptStatus.FAILED, reason)
        except Exception as exc:  # noqa: BLE001 - the failure must be told: retry until the receipt is confirmed
            self._log.warning("events.receipt_not_confirmed", **ids, error=type(exc).__name__)
            return HandlerResult.retry(f"{type(exc).__name__} publishing the failed receipt")
        self._count("failed")
        self._log.warning("events.parked", **ids, detail=reason, attempts=attempts)
        return HandlerResult.reject(RejectReason.PROCESSING_FAILURE, reason)

    # ---- acknowledgements ------------------------------------------------------------
    def scan_acknowledgements(self) -> int:
        """One pass: delivered events the agency's tool has confirmed get an ``acknowledged`` receipt.

        A pass looks at no more than ``ack_scan_batch`` delivered events (for
        FHIR each is one GET on the trust's server), continuing from where the
        last pass stopped and wrapping round, so every delivered event is
        checked within ``ceil(waiting / ack_scan_batch)`` passes.
        """
        check = getattr(self.channel, "acknowledged", None)
        if check is None:
            return 0
        page = self.store.awaiting_acknowledgement(self.ack_scan_batch, after=self._ack_cursor,
                                                   channel=self.channel.name)
        if not page:
            self._ack_cursor = None
            return 0
        self._ack_cursor = page[-1].position if len(page) >= self.ack_scan_batch else None
        waiting = {row.message_id: row for row in page}
        done = 0
        for message_id, detail in check(list(waiting.values())):
            row = waiting.get(message_id)
            if row is not None:
                self._acknowledge(row, detail)  # raises: recorded on a later scan
                done += 1
        return done

    def _acknowledge(self, row: StoredEvent, detail: str) -> None:
        self._receipt(row, ReceiptStatus.ACKNOWLEDGED, detail)
        self.store.mark_acknowledged(row.message_id, detail)
        self._count("acknowledged")
        self._log.info("events.acknowledged", message_id=row.message_id, referral_id=row.referral_id,
                       event_type=row.kind, detail=detail)

    def acknowledge(self, message_id: str, detail: str) -> str:
        """An explicit acknowledgement from the agency's tool: ``acknowledged``, ``already`` or ``unknown``.

        Only an event this consumer delivered can be acknowledged (a tool cannot acknowledge what it was
        never sent, nor an event that failed). Raises when the receipt was not confirmed (the tool retries).
        """
        row = self.store.get(message_id)
        if row is None or row.status not in DONE:
            return "unknown"
        if row.status == "acknowledged":
            self._receipt(row, ReceiptStatus.ACKNOWLEDGED, row.detail)  # same receipt id: one effect
            return "already"
        self._acknowledge(row, detail)
        return "acknowledged"


class AgencyEventsConsumer:
    """Background service ``agency-events``: consume the events queue; scan for acknowledgements."""

    name = "agency-events"

    def __init__(self, broker_factory: Callable[[], Broker], agency_id: str, handler: EventsHandler, *,
                 ack_scan_interval_s: float = 30.0, restart_backoff_s: float = 1.0,
                 max_wait_s: float = 0.05, ack_endpoint: Any = None) -> None:
        self.broker_factory = broker_factory
        #: Optional :class:`~.ack_endpoint.AckEndpoint`: explicit acknowledgements POSTed by the tool.
        self.ack_endpoint = ack_endpoint
        self.agency_id = agency_id
        self.handler = handler
        self.ack_scan_interval_s = ack_scan_interval_s
        self.restart_backoff_s = restart_backoff_s
        self.max_wait_s = max_wait_s
        self.failures = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._threads: list[threading.Thread] = []

    def _consume(self) -> None:
        while not self._stop.is_set():
            broker: Broker | None = None
            try:
                broker = self.broker_factory()
                broker.ensure_agency_queues(self.agency_id)
                consumer = broker.consumer([broker.topology.agency_events_queue(self.agency_id)], self.handler,
                                           prefetch=4, max_batch=1, max_wait_s=self.max_wait_s,
                                           name=f"{self.agency_id}:events")
                self._ready.set()
                consumer.run(self._stop)
            except Exception as exc:  # noqa: BLE001 - outlive broker outages
                self.failures += 1
                detail = str(exc)[:300] if isinstance(exc, BrokerError) else None
                log.error("events.consumer_failed", agency_id=self.agency_id, error=type(exc).__name__,
                          detail=detail, retry_in_s=self.restart_backoff_s)
                self._ready.set()
                self._stop.wait(self.restart_backoff_s)
            finally:
                if broker is not None:
                    broker.close()

    def _scan(self) -> None:
        while not self._stop.wait(self.ack_scan_interval_s):
            try:
                self.handler.scan_acknowledgements()
            except Exception as exc:  # noqa: BLE001 - a share or server away: next scan
                log.warning("events.ack_scan_failed", agency_id=self.agency_id, error=type(exc).__name__)

    def start(self) -> None:
        if self._threads:
            raise RuntimeError("events consumer already started")
        self._stop.clear()
        self._ready.clear()
        if self.ack_endpoint is not None:
            url = self.ack_endpoint.start()
            if hasattr(self.handler.channel, "ack_url"):
                self.handler.channel.ack_url = url  # type: ignore[attr-defined]
        targets = [("events", self._consume)]
        if getattr(self.handler.channel, "acknowledged", None) is not None:
            targets.append(("events-acks", self._scan))
        for suffix, target in targets:
            thread = threading.Thread(target=target, name=f"{self.agency_id}-{suffix}", daemon=True)
            self._threads.append(thread)
            thread.start()
        self._ready.wait(30)
        log.info("events.consumer_started", agency_id=self.agency_id, channel=self.handler.channel.name)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        self._threads = []
        if self.ack_endpoint is not None:
            self.ack_endpoint.stop()
        self.handler.receipts.close()
        log.info("events.consumer_stopped", agency_id=self.agency_id, delivered=self.handler.stats.delivered,
                 failed=self.handler.stats.failed, acknowledged=self.handler.stats.acknowledged)
