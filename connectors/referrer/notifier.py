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

from mashlink.broker.client import Broker
from mashlink.broker.codec import EnvelopeCodec, describe_validation_error
from mashlink.broker.errors import BrokerError, RejectReason
from mashlink.broker.messages import Delivery, HandlerResult
from mashlink.broker.topology import Topology
from mashlink.config.referrer import ReferrerNotifySettings
from mashlink.config.settings import HUB_SENDER_ID, MashlinkSettings
from mashlink.connectors.referrer.channels import PermanentDeliveryError, TransientDeliveryError, build_channel
from mashlink.connectors.referrer.receipts import ReceiptStore
from mashlink.connectors.referrer.render import OutcomeRenderer, RenderedMessage, TemplateProblem
from mashlink.schemas.decision import Outcome
from mashlink.schemas.envelope import MessageType

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
    """Verifies the hub's signature; can sign as nobody (the notifier publishes nothing)."""
    return EnvelopeCodec({hub_id: settings.signing_key(hub_id)}, signer=NOTIFIER_ID)


def notifier_broker_factory(settings: MashlinkSettings, *, topology: Topology | None = None,
                            hub_id: str = HUB_SENDER_ID, **options: object) -> Callable[[], Broker]:
    """Brokers for the notifier, with its retry policy (``referrer_notify.max_attempts`` and back-off)."""
    codec = notifier_codec(settings, hub_id)
    topo = topology or Topology(settings.broker_namespace)
    config = settings.referrer_notify
    opts: dict[str, object] = {"max_attempts": config.max_attempts, "retry_backoff_s": config.retry_backoff_s,
                               "retry_backoff_max_s": config.retry_backoff_max_s, **options}

    def factory() -> Broker:
        return Broker(settings.broker_url, codec, topo, **opts)  # type: ignore[arg-type]

    return factory


def receipts_dir(settings: MashlinkSettings) -> Path:
    return settings.state_dir / "referrer"


class ReferrerNotifier:
    """The BatchHandler of the ``referrer.outcomes`` queue."""

    def __init__(self, config: ReferrerNotifySettings, receipts: ReceiptStore, *, local_authority: str,
                 channel_for: ChannelFactory = configured_channel, hub_id: str = HUB_SENDER_ID) -> None:
        self.config = config
        self.receipts = receipts
        self.renderer = OutcomeRenderer(config.templates_path(), config.contact, local_authority)
        self.channel_for = channel_for
        self.hub_id = hub_id
        self.contact = {k: str(v) for k, v in config.contact.model_dump().items()}
        self.stats = {"delivered": 0, "duplicates": 0, "retried": 0, "parked": 0}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: MashlinkSettings, **kwargs: object) -> ReferrerNotifier:
        return cls(settings.referrer_notify, ReceiptStore(receipts_dir(settings)),
                   local_authority=settings.local_authority.name, **kwargs)  # type: ignore[arg-type]

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
            return self._park(ids, name, kind, str(exc), delivery.attempts)
        except TransientDeliveryError as exc:
            if delivery.attempts >= self.config.max_attempts:
                self._park(ids, name, kind, f"gave up after {delivery.attempts} attempt(s); last error: {exc}",
                           delivery.attempts)
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
        return HandlerResult.ack()

    def _park(self, ids: dict[str, str], name: str, kind: str, reason: str, attempts: int) -> HandlerResult:
        self.receipts.record(**ids, status="parked", channel=name, kind=kind, detail=reason, attempts=attempts)
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
        """One connection's life: declare, consume until stopped or broken (``Broker.close`` never raises)."""
        with self.broker_factory() as broker:
            broker.declare([])  # idempotent: exchanges, hub queues and referrer.outcomes with its DLQ
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
