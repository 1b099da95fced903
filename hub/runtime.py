"""``HubRuntime``: the hub's background work, in threads, with graceful shutdown.

Four threads, each with its own ``Broker`` (kombu connections are not
thread-safe) made by ``broker_factory`` inside the thread:

* ``hub-outbox``    ``OutboxRelay.run``: publishes committed outbox rows
* ``hub-responses`` a consumer of the responses queue -> ``HubService.handle_responses``
* ``hub-events``    a consumer of the hub's events queue -> ``HubService.handle_events``
* ``hub-deadlines`` ``DeadlineTracker.run``: escalations from the database
* ``hub-audit``     ``AuditWatch.run_once`` every ``audit_check_interval_s``: verifies
  the chain since its last anchor and logs a new signed anchor (off when 0)

A delivery to a hub queue that fails its envelope signature (forged, signed
with the wrong key, unsigned, or from a sender with no key) is parked by the
consumer as before, and is also recorded in the hub's audit chain as
``message.signature_failed`` before it is parked: a forgery attempt is a
security event that auditors must see, not only an operator's dead letter. A
validly signed delivery outside the freshness window (``stale``) is likewise
recorded as ``message.stale``, and every other delivery the broker parks before
a handler sees it (undecodable, not its type's model, retries used up) as
``message.rejected``. The consumers' hook is ``HubService.on_reject``
(``handlers.ParkedAudit``), which skips what a handler already audited, so
each parked message is audited exactly once.

``stop()`` sets one event; every loop checks it, finishes the batch in hand
(its transaction commits or rolls back as a whole) and exits, then brokers
are closed. Nothing is lost by stopping at any moment: unpublished outbox
rows, unacknowledged deliveries and due escalations are all picked up from
the database and the broker on the next start.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import structlog

from ..broker.factory_type import BrokerFactory
from ..config.settings import HubRuntimeSettings, with_overrides
from .audit_watch import AuditWatch
from .service import HubService
from .tracker import DeadlineTracker

log = structlog.get_logger(__name__)

class HubRuntime:
    """The hub's loops in threads. Knobs come from ``service.settings.hub_runtime`` (``HubRuntimeSettings``).

    ``settings`` replaces them; a keyword argument overrides one field for
    this runtime (tests, benchmarks) and is validated like the settings.
    ``audit_check_interval_s`` defaults to ``service.settings.audit_check_interval_s``.
    """

    def __init__(
        self,
        service: HubService,
        broker_factory: BrokerFactory,
        settings: HubRuntimeSettings | None = None,
        *,
        audit_check_interval_s: float | None = None,
        **overrides: Any,
    ) -> None:
        self.service = service
        self.broker_factory = broker_factory
        #: The knobs in force (settings plus this runtime's overrides).
        self.settings = with_overrides(settings or service.settings.hub_runtime, overrides, "HubRuntime")
        self.tracker = DeadlineTracker(service.store, service.topology, clock=service.clock)
        self.audit_check_interval_s = (service.settings.audit_check_interval_s if audit_check_interval_s is None
                                       else audit_check_interval_s)
        self.audit_watch = AuditWatch(service, anchor_file=service.settings.state_dir / "audit-anchor.json")
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.errors: list[str] = []

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def declare(self) -> None:
        """Declare the broker topology for the hub and every configured agency (idempotent)."""
        broker = self.broker_factory()
        try:
            broker.declare([a.id for a in self.service.settings.agencies])
        finally:
            broker.close()

    def start(self, *, declare: bool = True) -> None:
        if self.running:
            raise RuntimeError("hub runtime already started")
        if declare:
            self.declare()
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._guard, args=("hub-outbox", self._relay), name="hub-outbox", daemon=True),
            threading.Thread(target=self._guard, args=("hub-responses", self._responses), name="hub-responses",
                             daemon=True),
            threading.Thread(target=self._guard, args=("hub-events", self._events), name="hub-events", daemon=True),
            threading.Thread(target=self._guard, args=("hub-deadlines", self._deadlines), name="hub-deadlines",
                             daemon=True),
            # Alerts and loop escalations to the MASH team's channels (hub.team_notify).
            threading.Thread(target=self._guard, args=("hub-team-notify", self._team_notify),
                             name="hub-team-notify", daemon=True),
        ]
        if self.audit_check_interval_s > 0:
            self._threads.append(threading.Thread(target=self._guard, args=("hub-audit", self._audit),
                                                  name="hub-audit", daemon=True))
        for thread in self._threads:
            thread.start()
        log.info("hub.runtime_started", threads=len(self._threads))

    def stop(self, timeout_s: float = 15.0) -> None:
        """Ask every loop to finish its batch and exit; wait up to ``timeout_s`` in total."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=timeout_s)
        stuck = [t.name for t in self._threads if t.is_alive()]
        if stuck:
            log.warning("hub.runtime_stop_timeout", threads=stuck)
        else:
            log.info("hub.runtime_stopped")

    def __enter__(self) -> HubRuntime:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- loops -------------------------------------------------------------
    def _guard(self, name: str, body: Callable[[], Any]) -> None:
        """Run a loop; if it dies (e.g. the broker is down at start), log and start it again."""
        while not self._stop.is_set():
            try:
                body()
                return
            except Exception as exc:
                self.errors.append(f"{name}: {type(exc).__name__}: {exc}"[:500])
                log.exception("hub.thread_error", thread=name)
                self._stop.wait(self.settings.restart_wait_s)

    def _relay(self) -> None:
        broker = self.broker_factory()
        try:
            relay = self.service.outbox_relay(broker, batch_size=self.settings.relay_batch_size)
            relay.run(self._stop)
        finally:
            broker.close()

    def _consume(self, queue: str, handler: Any, name: str) -> None:
        broker = self.broker_factory()
        try:
            knobs = self.settings
            consumer = broker.consumer([queue], handler, prefetch=knobs.consumer_prefetch,
                                       max_batch=knobs.consumer_max_batch, max_wait_s=knobs.consumer_max_wait_s,
                                       name=name)
            consumer.on_reject = self.service.on_reject
            consumer.run(self._stop)
        finally:
            broker.close()

    def _responses(self) -> None:
        self._consume(self.service.topology.responses_queue, self.service.handle_responses, "hub-responses")

    def _events(self) -> None:
        self._consume(self.service.topology.events_queue, self.service.handle_events, "hub-events")

    def _team_notify(self) -> None:
        self.service.team_notifier().run(self._stop)

    def _deadlines(self) -> None:
        self.tracker.run(self._stop, interval_s=self.settings.tick_interval_s)

    def _audit(self) -> None:
        """First pass at start (a tampered chain is reported before any work), then on the interval."""
        while not self._stop.is_set():
            self.audit_watch.run_once()
            self._stop.wait(self.audit_check_interval_s)
