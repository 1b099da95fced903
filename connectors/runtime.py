"""The connector runtime: consume enquiries, call the connector, publish responses, ack.

One runtime serves every connector, so the hard parts are written once:

* **Red never waits behind amber or green.** The agency's red queue has its
  own consumer, connection, thread and worker pool (the *red lane*); amber and
  green share another (the *standard lane*, amber served first). A backlog of
  thousands of green enquiries cannot delay a red one.
* **Bounded concurrency and back-pressure.** Each lane has a fixed worker
  pool; a batch is never larger than the pool and the broker prefetch is the
  pool size plus a few ``retry_slots`` (deliveries waiting out a retry
  back-off stay unacked and must not stall the lane), so the process never
  holds more enquiries than it can work on. Everything else stays in the
  broker, visible to operators and to another replica. The one exception is
  a connector that ``answers_inline`` (CPU-only answers in microseconds, no
  agency system to wait on): its lanes take batches of ``inline_batch``,
  because the cost per enquiry is then dominated by the confirm round trip,
  the ack and the frames around them, which a larger batch shares out
  (measured with ``mashlink bench roundtrip``: about a fifth more round trips
  a second, and a quarter less broker CPU per round trip, at 32 than at 4).
* **At-least-once in, exactly-once effect out.** Responses are published with
  broker confirms; only then is the enquiry acknowledged. A crash between the
  two redelivers the enquiry, and because response envelope ids are
  deterministic (uuid5 of the enquiry's message id and the sequence), the
  hub's inbox drops the repeat.
* **Failures are sorted, never fatal.** A body that is not a valid enquiry is
  parked in the dead-letter queue by the broker with the reason; an enquiry
  for another agency, or a :class:`PermanentEnquiryError`, is parked with
  ``processing_failure``; any other exception from the connector is retried
  with back-off and parked after the broker's ``max_attempts``.
* **Graceful shutdown.** :meth:`ConnectorRunner.stop` (wired to SIGTERM and
  SIGINT by the CLI) stops taking new work; the batch in hand finishes, its
  responses are confirmed and its enquiries acked; anything prefetched but
  not started goes back to the queue; connections close.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from pydantic import ValidationError

from ..broker.client import Broker
from ..broker.factory_type import BrokerFactory
from ..broker.codec import describe_validation_error
from ..broker.errors import BrokerError, PublishError, RejectReason
from ..broker.messages import Delivery, HandlerResult
from ..config.settings import RunnerSettings
from .base import AgencyConnector, PermanentEnquiryError, response_message_id
from ..schemas.codes import Rag
from ..schemas.enquiry import Enquiry, EnquiryResponse
from ..schemas.envelope import Envelope, MessageType

log = structlog.get_logger(__name__)

#: While a slow agency system is being searched, heartbeats are still sent this often.
HEARTBEAT_EVERY_S = 5.0


def answers_inline(connector: AgencyConnector) -> bool:
    """The connector's optional ``answers_inline`` flag (see :class:`AgencyConnector`)."""
    return bool(getattr(connector, "answers_inline", False))


@dataclass
class RunnerStats:
    """Counters for logs, health checks and tests (ids and counts only)."""

    answered: int = 0
    responses: int = 0
    rejected: int = 0
    retried: int = 0
    by_rag: dict[str, int] = field(default_factory=dict)
    lane_failures: int = 0


class ConnectorRunner:
    """Runs one :class:`AgencyConnector` against the broker until stopped.

    ``broker_factory`` makes a new :class:`Broker` (one per lane thread: a
    broker connection is used from one thread only). The topology must be
    declared (``Broker.declare``) before enquiries can be routed; the runner
    declares the agency's queues itself on start, which is idempotent.
    """

    def __init__(
        self,
        connector: AgencyConnector,
        broker_factory: BrokerFactory,
        settings: RunnerSettings | None = None,
    ) -> None:
        if not isinstance(connector, AgencyConnector):
            raise TypeError("connector must provide agency_id, agency_kind and handle(enquiry)")
        self.connector = connector
        self.broker_factory = broker_factory
        self.settings = settings or RunnerSettings()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ready = threading.Semaphore(0)  # released once by each lane when it first consumes
        self._lock = threading.Lock()
        self.stats = RunnerStats()
        self._log = log.bind(agency_id=connector.agency_id)

    # ---- lifecycle -------------------------------------------------------------
    @property
    def agency_id(self) -> str:
        return self.connector.agency_id

    def start(self, *, wait_ready_s: float = 30.0) -> None:
        """Start the red and standard lanes in their own threads; returns once both are connected."""
        if self._threads:
            raise RuntimeError("runner already started")
        self._stop.clear()
        lanes = (
            ("red", [Rag.RED], self.settings.red_workers),
            ("standard", [Rag.AMBER, Rag.GREEN], self.settings.standard_workers),
        )
        for name, rags, workers in lanes:
            thread = threading.Thread(
                target=self._lane, args=(name, rags, workers), name=f"connector-{self.agency_id}-{name}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        deadline = time.monotonic() + wait_ready_s
        for _ in lanes:
            if not self._ready.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
                self._log.warning("connector.start_slow", waited_s=wait_ready_s)
                break
        self._log.info("connector.started", red_workers=self.settings.red_workers,
                       standard_workers=self.settings.standard_workers)

    def stop(self, timeout_s: float | None = 60.0) -> bool:
        """Stop taking work, finish and ack what is in hand, close. True if every lane ended in time."""
        self._stop.set()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(None if deadline is None else max(deadline - time.monotonic(), 0.0))
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            self._log.error("connector.stop_timeout", lanes=len(alive))
            return False
        self._threads = []
        self._ready = threading.Semaphore(0)
        self._log.info("connector.stopped", answered=self.stats.answered, rejected=self.stats.rejected,
                       retried=self.stats.retried)
        return True

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set (the CLI sets it from SIGTERM/SIGINT), then shut down gracefully."""
        self.start()
        try:
            while not stop.wait(0.5):
                if self._stop.is_set():
                    break
        finally:
            self.stop(timeout_s=None)

    def __enter__(self) -> ConnectorRunner:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- lanes -----------------------------------------------------------------
    def _lane(self, name: str, rags: Sequence[Rag], workers: int) -> None:
        """One consumer + worker pool; restarts after unexpected failures until stopped."""
        signalled = False
        while not self._stop.is_set():
            broker: Broker | None = None
            try:
                broker = self.broker_factory()
                broker.ensure_agency_queues(self.agency_id)
                queues = [broker.topology.enquiry_queue(self.agency_id, rag) for rag in rags]
                batch = self.settings.lane_batch(workers, inline=answers_inline(self.connector))
                with ThreadPoolExecutor(workers, thread_name_prefix=f"{self.agency_id}-{name}") as pool:
                    handler = _BatchHandler(self, broker, pool)
                    consumer = broker.consumer(
                        queues, handler, prefetch=batch + self.settings.retry_slots, max_batch=batch,
                        max_wait_s=self.settings.max_wait_s, name=f"{self.agency_id}:{name}",
                    )
                    handler.keepalive = consumer.link.heartbeat_check
                    if not signalled:
                        signalled = True
                        self._signal_ready()
                    consumer.run(self._stop)  # returns after the batch in hand is settled
            except Exception as exc:  # noqa: BLE001 - a lane must outlive broker outages and bugs
                with self._lock:
                    self.stats.lane_failures += 1
                # Our own broker errors name queues and what to do (never message content): log them.
                detail = str(exc)[:300] if isinstance(exc, BrokerError) else None
                self._log.error("connector.lane_failed", lane=name, error=type(exc).__name__, detail=detail,
                                retry_in_s=self.settings.restart_backoff_s)
                if not signalled:
                    signalled = True
                    self._signal_ready()
                self._stop.wait(self.settings.restart_backoff_s)
            finally:
                if broker is not None:
                    try:
                        broker.close()
                    except Exception:  # noqa: BLE001 - closing a broken connection
                        pass

    def _signal_ready(self) -> None:
        self._ready.release()

    # ---- per-enquiry work --------------------------------------------------------
    def _count(self, **deltas: int) -> None:
        with self._lock:
            for key, value in deltas.items():
                setattr(self.stats, key, getattr(self.stats, key) + value)

    def check(self, delivery: Delivery) -> Enquiry | HandlerResult:
        """The enquiry in a delivery, or the verdict for a delivery that is not one for us."""
        env = delivery.envelope
        if env.message_type is not MessageType.ENQUIRY:
            return HandlerResult.reject(RejectReason.UNKNOWN_MESSAGE_TYPE,
                                        f"message_type {env.message_type.value} on an enquiry queue")
        body = delivery.body
        if not isinstance(body, Enquiry):
            try:
                body = Enquiry.model_validate(env.body)
            except ValidationError as exc:
                return HandlerResult.reject(RejectReason.INVALID_BODY,
                                            "Enquiry: " + describe_validation_error(exc, "body."))
        if env.recipient != self.agency_id or body.agency_id != self.agency_id:
            return HandlerResult.reject(
                RejectReason.PROCESSING_FAILURE,
                f"enquiry addressed to another agency (envelope.recipient / body.agency_id), not {self.agency_id}",
            )
        if body.agency_kind is not self.connector.agency_kind:
            return HandlerResult.reject(
                RejectReason.PROCESSING_FAILURE,
                f"body.agency_kind {body.agency_kind.value} is not {self.connector.agency_kind.value}",
            )
        return body

    def answer(self, enquiry: Enquiry) -> list[EnquiryResponse]:
        """Call the connector and check its answers keep the contract."""
        responses = self.connector.handle(enquiry)
        if not responses:
            raise PermanentEnquiryError("connector returned no response")
        sequences = [r.sequence for r in responses]
        if len(set(sequences)) != len(sequences):
            raise PermanentEnquiryError(f"connector returned repeated sequence numbers {sorted(sequences)}")
        for i, r in enumerate(responses):
            if r.enquiry_id != enquiry.enquiry_id or r.referral_id != enquiry.referral_id:
                raise PermanentEnquiryError(f"responses[{i}] is for another enquiry or referral")
            if r.agency_id != self.agency_id:
                raise PermanentEnquiryError(f"responses[{i}].agency_id is not {self.agency_id}")
        return sorted(responses, key=lambda r: r.sequence)

    def envelopes(self, request: Envelope, responses: list[EnquiryResponse]) -> list[Envelope]:
        """Response envelopes with ids derived from the enquiry's message id (idempotent)."""
        now = datetime.now(UTC)
        return [
            Envelope(
                message_id=response_message_id(request.message_id, response.sequence),
                correlation_id=request.correlation_id,
                causation_id=request.message_id,
                enquiry_id=response.enquiry_id,
                message_type=MessageType.ENQUIRY_RESPONSE,
                sender=self.agency_id,
                recipient=self.settings.hub_id,
                sent_at=now,
                due_at=request.due_at,
                rag=request.rag,
                body=response.model_dump(mode="json"),
            )
            for response in responses
        ]


class _BatchHandler:
    """The broker handler of one lane: fan the batch out to the pool, publish, then verdicts."""

    def __init__(self, runner: ConnectorRunner, broker: Broker, pool: ThreadPoolExecutor) -> None:
        self.runner = runner
        self.broker = broker
        self.pool = pool
        #: Called while waiting for slow agency systems, so the consumer's
        #: connection keeps its heartbeats (same thread as the consumer).
        self.keepalive: Callable[[], None] = lambda: None

    def _work(self, delivery: Delivery) -> tuple[HandlerResult | None, list[Envelope]]:
        runner = self.runner
        checked = runner.check(delivery)
        if isinstance(checked, HandlerResult):
            return checked, []
        try:
            responses = runner.answer(checked)
            return None, runner.envelopes(delivery.envelope, responses)
        except PermanentEnquiryError as exc:
            return HandlerResult.reject(RejectReason.PROCESSING_FAILURE, exc.detail), []
        except ValidationError as exc:
            # The connector built an invalid response: a bug that a retry will not fix.
            return HandlerResult.reject(RejectReason.PROCESSING_FAILURE,
                                        "connector response invalid: " + describe_validation_error(exc)), []
        except Exception as exc:  # noqa: BLE001 - transient by default: retry with back-off
            return HandlerResult.retry(f"{type(exc).__name__} in connector"), []

    def _outcomes(self, deliveries: list[Delivery]) -> list[tuple[HandlerResult | None, list[Envelope]]]:
        if answers_inline(self.runner.connector):
            return [self._work(d) for d in deliveries]  # local, CPU-only answers: no thread hand-off
        futures: list[Future[tuple[HandlerResult | None, list[Envelope]]]] = [
            self.pool.submit(self._work, d) for d in deliveries
        ]
        pending = set(futures)
        while pending:
            _done, pending = wait(pending, timeout=HEARTBEAT_EVERY_S)
            if pending:
                self.keepalive()
                self.broker.link.heartbeat_check()
        return [f.result() for f in futures]

    def __call__(self, deliveries: list[Delivery]) -> list[HandlerResult]:
        outcomes = self._outcomes(deliveries)
        topology = self.broker.topology
        outgoing = [topology.response(env) for _verdict, envs in outcomes for env in envs]
        confirmed: set[str] | None = None
        if outgoing:
            try:
                self.broker.publish(outgoing)
            except PublishError as exc:
                confirmed = set(exc.confirmed)
                self.runner._log.warning("connector.publish_failed", unconfirmed=len(exc.failed))
        results: list[HandlerResult] = []
        for delivery, (verdict, envs) in zip(deliveries, outcomes, strict=True):
            results.append(self._settle(delivery, verdict, envs, confirmed))
        return results

    def _settle(
        self, delivery: Delivery, verdict: HandlerResult | None, envs: list[Envelope], confirmed: set[str] | None
    ) -> HandlerResult:
        runner = self.runner
        env = delivery.envelope
        if verdict is not None:
            if verdict.verdict.value == "reject":
                runner._count(rejected=1)
                runner._log.warning("connector.enquiry_rejected", message_id=env.message_id,
                                    reason=verdict.reason.value if verdict.reason else None)
            else:
                runner._count(retried=1)
                runner._log.warning("connector.enquiry_retry", message_id=env.message_id,
                                    attempts=delivery.attempts, detail=verdict.detail)
            return verdict
        if confirmed is not None and not all(e.message_id in confirmed for e in envs):
            runner._count(retried=1)
            return HandlerResult.retry("response publish not confirmed")
        rag = env.rag.value if env.rag else "none"
        with runner._lock:
            runner.stats.answered += 1
            runner.stats.responses += len(envs)
            runner.stats.by_rag[rag] = runner.stats.by_rag.get(rag, 0) + 1
        runner._log.info("connector.enquiry_answered", enquiry_id=env.enquiry_id, message_id=env.message_id,
                         rag=rag, responses=len(envs),
                         statuses=",".join(str(e.body.get("status")) for e in envs))
        return HandlerResult.ack()
