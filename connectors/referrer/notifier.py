"""The referrer notifier: consume ``referrer.outcomes``, render, deliver, record a receipt, then ack.

Per delivery (one at a time, in queue order):

1. the envelope was verified by the broker codec against the hub's key only
   (a forged outcome is parked as ``bad_signature`` before it gets here);
   anything that is not an ``outcome`` for the referrer is parked;
2. an outcome id already in the receipts is acknowledged without sending
   (redelivery after a crash, a replay of something already delivered);
3. the channel is chosen by the referrer's name (``referrer_notify.channels``),
   the message rendered from the outcome type's template, and sent;
4. a delivered outcome gets a receipt line (fsynced) and only then the ack;
   a transient failure is RETRY (the consumer re-delivers with back-off and
   parks with ``delivery_limit`` after ``max_attempts``); a permanent one is
   parked at once with ``processing_failure`` and the reason. Parked outcomes
   also get a receipt line, so the record shows who was *not* told.
5. each delivered, parked or repeated outcome is also reported to the hub as
   a ``DeliveryReceipt`` (agency ``referrer``, channel ``email`` or
   ``webhook``) on ``receipt.referrer``, signed as ``referrer-notifier``
   when that sender has a key, else with the hub key this process already
   holds to verify outcomes. A receipt the broker did not confirm makes the
   outcome RETRY; the redelivery finds it delivered and only re-publishes
   the receipt (same receipt id, one effect at the hub).

Logs carry ids, outcome codes, channel names and statuses: no addresses, no
message text, no personal data.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import structlog
from pydantic import ValidationError

from ...broker.client import Broker
from ...broker.codec import EnvelopeCodec, describe_validation_error, settings_codec
from ...broker.errors import BrokerError, RejectReason
from ...broker.messages import Delivery, HandlerResult
from ...broker.topology import Topology
from ...config.referrer import ReferrerNotifySettings
from ...config.settings import HUB_SENDER_ID, REFERRER_NOTIFIER_ID, MashlinkSettings
from ..events.receipts import ReceiptPublisher, build_receipt
from .channels import PermanentDeliveryError, TransientDeliveryError, build_channel
from .receipts import ReceiptStore
from .render import OutcomeRenderer, RenderedMessage, TemplateProblem
from ...schemas.decision import Outcome
from ...schemas.envelope import MessageType
from ...schemas.receipt import ReceiptStatus

log = structlog.get_logger(__name__)

#: The notifier's identity. It holds no signing key, so it can verify the hub but never sign anything.
NOTIFIER_ID = "referrer-notifier"
REFERRER_RECIPIENT = "referrer"


class Channel(Protocol):
    def send(self, outcome: Outcome, message: RenderedMessage, contact: dict[str, str]) -> str: ...


ChannelFactory = Callable[[str, ReferrerNotifySettings], "tuple[str, str, Channel] | None"]


def configured_channel(referrer: str, config: ReferrerNotifySettings) -> tuple[str, str, Channel] | None:
    """``(channel name, kind, channel)`` for a referrer, or None when nothing is configured."""
    found = config.channels.channel_for(referrer)
    if found is None:
        return None
    name, channel = found
    return name, channel.kind, build_channel(channel, config.smtp)


def notifier_codec(settings: MashlinkSettings, hub_id: str = HUB_SENDER_ID) -> EnvelopeCodec:
    """Verifies the hub's signature with its public keys; signs nothing (outcomes are consumed only)."""
    return settings_codec(settings, signs_as=None, verifies=[hub_id], trusted={hub_id})


def notifier_broker_factory(settings: MashlinkSettings, *, topology: Topology | None = None,
                            hub_id: str = HUB_SENDER_ID, **options: object) -> Callable[[], Broker]:
    """Brokers for the notifier, with its retry policy (``referrer_notify.max_attempts`` and back-off)."""
    codec = notifier_codec(settings, hub_id)
    topo = topology or Topology(settings.broker_namespace)
    config = settings.referrer_notify
    opts: dict[str, object] = {"max_attempts": config.max_attempts, "retry_backoff_s": config.retry_backoff_s,
                               "retry_backoff_max_s": config.retry_backoff_max_s, **options}

    def factory() -> Broker:
        return Broker(settings.broker_url, codec, topo, settings=settings.broker_runtime,  # type: ignore[arg-type]
                      tls=settings.broker_tls, **opts)

    return factory


def ensure_notifier_queue(broker: Broker) -> None:
    """Check, passively, that ``referrer.outcomes`` and its DLQ exist; declare nothing on RabbitMQ.

    Why not declare: the notifier runs as a least-privilege broker user
    (:func:`mashlink.broker.permissions.notifier_permissions`: configure
    ``^$``), as agency connectors do; the hub declares every queue. A passive
    declare needs no permission, so a missing queue is a clear error naming
    it (the runner retries with back-off: start the hub first), never a
    consumer on nothing. On memory:// (one process, no broker users) the
    notifier declares the topology itself, as before.
    """
    topology = broker.topology
    queue = topology.referrer_outcomes_queue
    if broker.is_embedded:
        broker.declare([])
        return
    wanted = [queue, topology.dlq_for(queue)]
    missing = [stat.name for stat in broker.queue_stats(wanted) if stat.messages < 0]
    if missing:
        raise BrokerError(f"queue(s) {', '.join(missing)} do not exist and the referrer notifier does not declare "
                          "them: start the hub first (it declares the topology)")


def receipt_signer(settings: MashlinkSettings, hub_id: str = HUB_SENDER_ID) -> str:
    """Who signs the notifier's receipts: always ``referrer-notifier``, with its own private key.

    Never the hub: the notifier holds no hub private key, and the hub refuses
    a ``referrer`` receipt signed by anyone but ``referrer-notifier``.
    """
    return REFERRER_NOTIFIER_ID


def receipt_broker_factory(settings: MashlinkSettings, *, topology: Topology | None = None,
                           hub_id: str = HUB_SENDER_ID) -> Callable[[], Broker]:
    """Brokers that can sign receipts (and nothing else) as :func:`receipt_signer`."""
    codec = settings_codec(settings, signs_as=receipt_signer(settings, hub_id), verifies=())
    topo = topology or Topology(settings.broker_namespace)

    def factory() -> Broker:
        return Broker(settings.broker_url, codec, topo, settings=settings.broker_runtime, tls=settings.broker_tls)

    return factory


def receipts_dir(settings: MashlinkSettings) -> Path:
    return settings.state_dir / "referrer"


class ReferrerNotifier:
    """The BatchHandler of the ``referrer.outcomes`` queue."""

    def __init__(self, config: ReferrerNotifySettings, receipts: ReceiptStore, *, local_authority: str,
                 channel_for: ChannelFactory = configured_channel, hub_id: str = HUB_SENDER_ID,
                 receipts_out: ReceiptPublisher | None = None) -> None:
        self.config = config
        self.receipts = receipts
        self.receipts_out = receipts_out
        self.renderer = OutcomeRenderer(config.templates_path(), config.contact, local_authority)
        self.channel_for = channel_for
        self.hub_id = hub_id
        self.contact = {k: str(v) for k, v in config.contact.model_dump().items()}
        self.stats = {"delivered": 0, "duplicates": 0, "retried": 0, "parked": 0}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: MashlinkSettings, *, topology: Topology | None = None,
                      **kwargs: object) -> ReferrerNotifier:
        """The notifier with its JSONL receipts and, unless ``receipts_out`` is given, a receipt publisher."""
        if "receipts_out" not in kwargs:
            hub_id = str(kwargs.get("hub_id", HUB_SENDER_ID))
            kwargs["receipts_out"] = ReceiptPublisher(
                receipt_broker_factory(settings, topology=topology, hub_id=hub_id),
                receipt_signer(settings, hub_id), hub_id=hub_id)
        return cls(settings.referrer_notify, ReceiptStore(receipts_dir(settings)),
                   local_authority=settings.local_authority.name, **kwargs)  # type: ignore[arg-type]

    def _publish_receipt(self, outcome: Outcome, message_id: str, status: ReceiptStatus, kind: str,
                         detail: str) -> None:
        """Tell the hub (raises when the broker did not confirm); nothing to do without a publisher."""
        if self.receipts_out is None:
            return
        self.receipts_out.publish(build_receipt(
            event_message_id=message_id, event_type="outcome", referral_id=outcome.referral_id,
            outcome_id=outcome.outcome_id, agency_id=REFERRER_RECIPIENT, status=status,
            channel=kind if kind != "-" else "none", detail=detail))

    def close(self) -> None:
        if self.receipts_out is not None:
            self.receipts_out.close()

    def _count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    def __call__(self, deliveries: list[Delivery]) -> list[HandlerResult]:
        return [self.handle(d) for d in deliveries]

    def _outcome(self, delivery: Delivery) -> Outcome | HandlerResult:
        env = delivery.envelope
        if env.message_type is not MessageType.OUTCOME:
            return HandlerResult.reject(RejectReason.UNKNOWN_MESSAGE_TYPE,
                                        f"message_type {env.message_type.value} on the referrer outcomes queue")
        if env.sender != self.hub_id or env.recipient != REFERRER_RECIPIENT:
            return HandlerResult.reject(RejectReason.PROCESSING_FAILURE,
                                        "outcome not from the hub to the referrer (envelope.sender / recipient)")
        body = delivery.body
        if isinstance(body, Outcome):
            return body
        try:
            return Outcome.model_validate(env.body)
        except ValidationError as exc:
            return HandlerResult.reject(RejectReason.INVALID_BODY, "Outcome: " + describe_validation_error(exc, "body."))

    def handle(self, delivery: Delivery) -> HandlerResult:
        checked = self._outcome(delivery)
        if isinstance(checked, HandlerResult):
            self._count("parked")
            log.warning("referrer.outcome_rejected", message_id=delivery.envelope.message_id,
                        reason=checked.reason.value if checked.reason else None)
            return checked
        outcome = checked
        ids = {"outcome_id": outcome.outcome_id, "referral_id": outcome.referral_id,
               "message_id": delivery.envelope.message_id}
        if self.receipts.delivered(outcome.outcome_id):
            self._count("duplicates")
            log.info("referrer.outcome_duplicate", **ids, attempts=delivery.attempts)
            row = self.receipts.delivered_row(outcome.outcome_id)
            try:
                self._publish_receipt(outcome, row.get("message_id") or ids["message_id"], ReceiptStatus.DELIVERED,
                                      str(row.get("kind") or "-"), str(row.get("detail") or "delivered"))
            except Exception as exc:  # noqa: BLE001 - not confirmed: the next delivery publishes it again
                log.warning("referrer.receipt_not_confirmed", **ids, error=type(exc).__name__)
                return HandlerResult.retry(f"{type(exc).__name__} publishing the receipt")
            return HandlerResult.ack()
        name, kind = "-", "-"
        try:
            found = self.channel_for(outcome.recipient, self.config)
            if found is None:
                raise PermanentDeliveryError("no channel for this referrer (referrer_notify.channels) and no default")
            name, kind, channel = found
            message = self.renderer.render(outcome)
            started = time.monotonic()
            detail = channel.send(outcome, message, self.contact)
        except (PermanentDeliveryError, TemplateProblem) as exc:
            return self._park(outcome, ids, name, kind, str(exc), delivery.attempts)
        except TransientDeliveryError as exc:
            if delivery.attempts >= self.config.max_attempts:
                self._park(outcome, ids, name, kind,
                           f"gave up after {delivery.attempts} attempt(s); last error: {exc}", delivery.attempts)
                return HandlerResult.retry(str(exc))  # the consumer parks it with delivery_limit
            self._count("retried")
            log.warning("referrer.outcome_retry", **ids, channel=name, kind=kind, attempts=delivery.attempts,
                        detail=str(exc))
            return HandlerResult.retry(str(exc))
        except Exception as exc:  # noqa: BLE001 - an unexpected failure is retried, then parked by the consumer
            self._count("retried")
            log.error("referrer.outcome_error", **ids, channel=name, error=type(exc).__name__,
                      attempts=delivery.attempts)
            return HandlerResult.retry(f"{type(exc).__name__} in notifier")
        self.receipts.record(**ids, status="delivered", channel=name, kind=kind, detail=detail,
                             attempts=delivery.attempts, at=datetime.now(UTC))
        self._count("delivered")
        log.info("referrer.outcome_delivered", **ids, outcome=outcome.outcome.value, channel=name, kind=kind,
                 detail=detail, attempts=delivery.attempts, ms=round((time.monotonic() - started) * 1000, 1))
        try:
            self._publish_receipt(outcome, ids["message_id"], ReceiptStatus.DELIVERED, kind, detail)
        except Exception as exc:  # noqa: BLE001 - the redelivery finds it delivered and publishes the receipt
            log.warning("referrer.receipt_not_confirmed", **ids, error=type(exc).__name__)
            return HandlerResult.retry(f"{type(exc).__name__} publishing the receipt")
        return HandlerResult.ack()

    def _park(self, outcome: Outcome, ids: dict[str, str], name: str, kind: str, reason: str,
              attempts: int) -> HandlerResult:
        self.receipts.record(**ids, status="parked", channel=name, kind=kind, detail=reason, attempts=attempts)
        try:
            self._publish_receipt(outcome, ids["message_id"], ReceiptStatus.FAILED, kind, reason)
        except Exception as exc:  # noqa: BLE001 - the failure must reach the hub: try the outcome again
            log.warning("referrer.receipt_not_confirmed", **ids, error=type(exc).__name__)
            return HandlerResult.retry(f"{type(exc).__name__} publishing the failed receipt")
        self._count("parked")
        log.warning("referrer.outcome_parked", **ids, channel=name, kind=kind, detail=reason, attempts=attempts)
        return HandlerResult.reject(RejectReason.PROCESSING_FAILURE, reason)


class NotifierRunner:
    """Consumes ``referrer.outcomes`` in a thread until stopped; restarts after broker failures."""

    def __init__(self, notifier: ReferrerNotifier, broker_factory: Callable[[], Broker], *,
                 max_wait_s: float = 0.05, restart_backoff_s: float = 1.0) -> None:
        self.notifier = notifier
        self.broker_factory = broker_factory
        self.max_wait_s = max_wait_s
        self.restart_backoff_s = restart_backoff_s
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures = 0

    def start(self, wait_ready_s: float = 30.0) -> None:
        if self._thread is not None:
            raise RuntimeError("notifier already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="referrer-notifier", daemon=True)
        self._thread.start()
        if not self._ready.wait(wait_ready_s):
            log.warning("referrer.start_slow", waited_s=wait_ready_s)
        log.info("referrer.notifier_started")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._consume()
            except Exception as exc:  # noqa: BLE001 - outlive broker outages
                self.failures += 1
                detail = str(exc)[:300] if isinstance(exc, BrokerError) else None
                log.error("referrer.notifier_failed", error=type(exc).__name__, detail=detail,
                          retry_in_s=self.restart_backoff_s)
                self._ready.set()
                self._stop.wait(self.restart_backoff_s)

    def _consume(self) -> None:
        """One connection's life: check the queue, consume until stopped or broken (``Broker.close`` never raises)."""
        with self.broker_factory() as broker:
            ensure_notifier_queue(broker)  # passive on RabbitMQ: the notifier's broker user may not declare
            consumer = broker.consumer([broker.topology.referrer_outcomes_queue], self.notifier, prefetch=4,
                                       max_batch=1, max_wait_s=self.max_wait_s, name="referrer-notifier")
            self._ready.set()
            consumer.run(self._stop)

    def stop(self, timeout_s: float | None = 30.0) -> bool:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            alive = self._thread.is_alive()
            self._thread = None
            self._ready.clear()
            self.notifier.close()
            log.info("referrer.notifier_stopped", **self.notifier.stats)
            return not alive
        return True

    def run(self, stop: threading.Event) -> None:
        self.start()
        try:
            while not stop.wait(0.5):
                pass
        finally:
            self.stop(timeout_s=None)

    def __enter__(self) -> NotifierRunner:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
