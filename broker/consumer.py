"""Batch consumer with manual ack, retries with back-off, and parking in DLQs.

The life of a delivery:

1. kombu calls ``_on_message`` while we drain; it only buffers (so a publish
   that drains for confirms while we process can never re-enter a handler).
2. The buffer is served in queue order (the first queue given is served first,
   so ``[red, amber, green]`` puts red first within one consumer) in batches.
3. Each message is decoded and verified (:class:`EnvelopeCodec`); anything
   that cannot be processed is *parked*: republished with confirms to its
   DLQ with ``x-mashlink-*`` headers, then acked. The queue carries on.
4. The handler gets the batch and commits its effects before returning.
   ACK -> ack. REJECT -> park. RETRY (or an exception) -> after a back-off the
   message is republished with confirms to the same queue with its attempt
   counter raised, then the original is acked; past ``max_attempts`` it is
   parked with reason ``delivery_limit``. A handler exception in a batch of
   several re-runs the deliveries one by one, so one poison message cannot
   drag its batch-mates towards the delivery limit.

Nothing is acked before the handler returned and the follow-up copy (retry
or DLQ) is confirmed, so a crash at any point leads to redelivery, never loss.

``on_reject``, when given, is told of every delivery about to be parked
(queue, message id, reason, detail and the raw body), before it is parked,
so the application can keep its own record (the hub audits signature
failures). If it raises, the delivery is held unacked and parking is tried
again later, as for a failed DLQ publish: the record is not skipped.
Retry bookkeeping is application-level so it behaves the same on memory://
and RabbitMQ; RabbitMQ's quorum ``x-delivery-limit`` + DLX remains the
backstop for consumers that crash before they can decide anything.
"""

from __future__ import annotations

import heapq
import itertools
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import amqp
import kombu
import structlog
from structlog.contextvars import bound_contextvars

from .codec import EnvelopeCodec
from .errors import MessageRejected, RejectReason
from .headers import (
    H_ATTEMPTS,
    H_DETAIL,
    H_EXCHANGE,
    H_LAST_ERROR,
    H_PARKED_AT,
    H_QUEUE,
    H_REASON,
    H_REPLAYS,
    H_ROUTING_KEY,
    MAX_DETAIL,
    SERVER_HEADERS,
    synthetic_message_id,
)
from .link import LinkLost, RawMessage
from .messages import BatchHandler, Delivery, HandlerResult, Verdict
from .topology import Topology
from .transport import Transport

log = structlog.get_logger(__name__)


@dataclass
class _Pending:
    """A received message we hold (unacked) until it is settled."""

    message: Any  # kombu.Message
    queue: str
    rank: int
    seq: int
    attempts: int
    redelivered: bool
    settled: bool = False

    @property
    def headers(self) -> dict[str, Any]:
        return dict(self.message.headers or {})

    @property
    def message_id(self) -> str:
        props = self.message.properties or {}
        return str(props.get("message_id") or "") or synthetic_message_id(self.message.body or b"")


def _envelope_ids(envelope: Any) -> dict[str, str]:
    """The ids a log line about this message carries: correlation (the referral) and enquiry, when known."""
    ids = {"correlation_id": getattr(envelope, "correlation_id", None),
           "enquiry_id": getattr(envelope, "enquiry_id", None)}
    return {key: str(value) for key, value in ids.items() if value}


def _failure_code(detail: str | None) -> str:
    """A failed delivery's reason as a code for logs: the error class named in ``detail``, else ``handler_retry``."""
    head = (detail or "").split(":", 1)[0].strip()
    return head if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]{0,80}", head) and ":" in (detail or "") else "handler_retry"


def _with_log_context(context: dict[str, Any], action: Callable[[], None]) -> None:
    with bound_contextvars(**context):
        action()


@dataclass(frozen=True)
class Rejection:
    """A delivery being parked, as told to ``on_reject``. ``body`` is untrusted: parse it defensively."""

    queue: str
    message_id: str
    reason: RejectReason
    detail: str
    body: bytes


RejectHook = Callable[[Rejection], None]


@dataclass(order=True)
class _Deferred:
    due: float
    seq: int
    action: Callable[[], None] = field(compare=False)
    pending: _Pending = field(compare=False)


def _attempts(headers: dict[str, Any], redelivered: bool) -> int:
    """This delivery's attempt number: earlier attempts + this one + redeliveries."""
    try:
        prior = int(headers.get(H_ATTEMPTS, 0))
    except (TypeError, ValueError):
        prior = 0
    count = headers.get("x-delivery-count")
    try:
        redeliveries = int(count) if count is not None else (1 if redelivered else 0)
    except (TypeError, ValueError):
        redeliveries = 1 if redelivered else 0
    return max(prior, 0) + 1 + max(redeliveries, 0)


class Consumer:
    """Consumes ``queues`` on its own connection; safe to run in its own thread.

    ``link`` is public for diagnostics and fault-injection tests.
    """

    def __init__(
        self,
        link: Transport,
        codec: EnvelopeCodec,
        topology: Topology,
        queues: Sequence[str],
        handler: BatchHandler,
        *,
        prefetch: int = 100,
        max_batch: int = 100,
        max_wait_s: float = 0.02,
        name: str = "",
        max_attempts: int = 5,
        retry_backoff_s: float = 1.0,
        retry_backoff_max_s: float = 60.0,
        on_reject: RejectHook | None = None,
    ) -> None:
        if not queues:
            raise ValueError("a consumer needs at least one queue")
        if max_batch < 1 or prefetch < 1:
            raise ValueError("prefetch and max_batch must be >= 1")
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.link = link
        self.codec = codec
        self.topology = topology
        self.queues = list(dict.fromkeys(queues))
        self.handler = handler
        self.prefetch = prefetch
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.name = name or ",".join(self.queues)
        self.max_attempts = max_attempts
        self.retry_backoff_s = retry_backoff_s
        self.retry_backoff_max_s = retry_backoff_max_s
        self.on_reject = on_reject
        self._seq = itertools.count()
        self._channel: Any = None
        self._consumers: list[kombu.Consumer] = []
        self._buffer: list[_Pending] = []
        self._deferred: list[_Deferred] = []
        self._held: dict[int, _Pending] = {}
        self._random = random.Random()
        self._last_activity = time.monotonic()

    # ---- lifecycle -----------------------------------------------------
    @property
    def started(self) -> bool:
        return self._channel is not None

    def _start(self) -> None:
        if self._channel is not None:
            return
        ch = self.link.channel()
        ch.basic_qos(0, self.prefetch, False)
        consumers = []
        for rank, queue in enumerate(self.queues):
            consumer = kombu.Consumer(
                ch,
                queues=[kombu.Queue(queue, no_declare=True)],
                on_message=partial(self._on_message, queue, rank),
                no_ack=False,
                auto_declare=False,
            )
            consumer.consume()
            consumers.append(consumer)
        self._channel = ch
        self._consumers = consumers
        log.info("consumer.started", consumer=self.name, queues=len(self.queues), prefetch=self.prefetch)

    def _recoverable(self) -> tuple[type[BaseException], ...]:
        return (LinkLost, amqp.exceptions.ChannelError) + self.link.recoverable_errors

    def _forget(self) -> None:
        """After a broken connection: the broker redelivers whatever we held unacked."""
        self._channel = None
        self._consumers = []
        self._buffer.clear()
        self._deferred.clear()
        self._held.clear()
        self.link.reset()

    def close(self) -> None:
        """Stop consuming; unacked messages go back to their queues. Never raises."""
        ch, self._channel = self._channel, None
        if ch is not None:
            try:
                for consumer in self._consumers:
                    consumer.cancel()
                for pending in list(self._held.values()):
                    if not pending.settled:
                        self.link.give_back(ch, pending.message, pending.queue)
                ch.close()
            except Exception as exc:  # noqa: BLE001 - closing a broken channel must not raise
                log.debug("consumer.close_error", consumer=self.name, error=type(exc).__name__)
        self._consumers = []
        self._buffer.clear()
        self._deferred.clear()
        self._held.clear()
        try:
            self.link.close()
        except Exception as exc:  # noqa: BLE001
            log.debug("consumer.close_error", consumer=self.name, error=type(exc).__name__)

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- loops ---------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set, reconnecting with back-off after connection loss."""
        backoff = 0.2
        try:
            while not stop.is_set():
                try:
                    self._start()
                    backoff = 0.2
                    while not stop.is_set():
                        self._step(0.25)
                except self._recoverable() as exc:
                    log.warning(
                        "consumer.connection_lost", consumer=self.name, error=type(exc).__name__,
                        retry_in_s=backoff,
                    )
                    self._forget()
                    stop.wait(backoff)
                    backoff = min(backoff * 2, 5.0)
        finally:
            self.close()

    def run_once(self, timeout_s: float) -> int:
        """Process what is available (and due retries) until idle or ``timeout_s``; returns count.

        A lost connection is raised to the caller; the next call reconnects
        (whatever was unacked is redelivered by the broker).
        """
        try:
            return self._run_once(timeout_s)
        except self._recoverable():
            self._forget()
            raise

    def _run_once(self, timeout_s: float) -> int:
        self._start()
        deadline = time.monotonic() + timeout_s
        idle_s = max(4 * self.max_wait_s, 0.15)
        count = 0
        self._last_activity = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            count += self._step(min(idle_s, deadline - now))
            if not self._deferred and not self._buffer and time.monotonic() - self._last_activity >= idle_s:
                break
        return count

    def _step(self, idle_wait: float) -> int:
        self.link.heartbeat_check()
        wait = idle_wait
        if self._deferred:
            wait = min(wait, max(self._deferred[0].due - time.monotonic(), 0.001))
        if self._buffer:
            wait = 0.001
        self._fill(wait)
        done = self._process_buffer()
        if done:
            self._last_activity = time.monotonic()
        self._run_due()
        return done

    def _fill(self, first_wait: float) -> None:
        if not self.link.drain(first_wait):
            return
        deadline = time.monotonic() + self.max_wait_s
        while len(self._buffer) < self.max_batch:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.link.drain(remaining):
                break

    def _on_message(self, queue: str, rank: int, body: Any, message: Any = None) -> None:
        # kombu calls on_message(message); partial() supplies queue and rank.
        msg = message if message is not None else body
        headers = dict(msg.headers or {})
        info = msg.delivery_info or {}
        redelivered = bool(info.get("redelivered", False))
        pending = _Pending(
            message=msg,
            queue=queue,
            rank=rank,
            seq=next(self._seq),
            attempts=_attempts(headers, redelivered),
            redelivered=redelivered,
        )
        self._held[pending.seq] = pending
        self._buffer.append(pending)

    # ---- processing ----------------------------------------------------
    def _process_buffer(self) -> int:
        done = 0
        while self._buffer:
            self._buffer.sort(key=lambda p: (p.rank, p.seq))
            batch = self._buffer[: self.max_batch]
            del self._buffer[: self.max_batch]
            done += self._process_batch(batch)
        return done

    def _process_batch(self, batch: list[_Pending]) -> int:
        ready: list[tuple[_Pending, Delivery]] = []
        for pending in batch:
            body = pending.message.body
            raw = body.encode() if isinstance(body, str) else bytes(body or b"")
            with bound_contextvars(message_id=pending.message_id):  # every log line about it names it
                try:
                    envelope = self.codec.decode(raw, replayed=H_REPLAYS in pending.headers)
                except MessageRejected as rejected:
                    self._park(pending, rejected.reason, rejected.detail)
                    continue
                except Exception as exc:  # noqa: BLE001 - e.g. RecursionError on absurdly nested JSON
                    self._park(pending, RejectReason.BAD_FORMAT, f"undecodable: {type(exc).__name__}")
                    continue
                with bound_contextvars(**_envelope_ids(envelope)):
                    try:
                        model = self.codec.body(envelope)
                    except MessageRejected as rejected:
                        self._park(pending, rejected.reason, rejected.detail)
                        continue
                    except Exception as exc:  # noqa: BLE001 - a validator bug must not block the queue
                        self._park(pending, RejectReason.INVALID_BODY,
                                   f"body validation crashed: {type(exc).__name__}")
                        continue
            ready.append(
                (pending, Delivery(envelope, pending.queue, pending.redelivered, pending.attempts, model))
            )
        if ready:
            results = self._invoke([d for _, d in ready])
            acked: list[_Pending] = []
            for (pending, delivery), result in zip(ready, results, strict=True):
                if result.verdict == Verdict.ACK:
                    acked.append(pending)
                else:
                    with bound_contextvars(message_id=pending.message_id, **_envelope_ids(delivery.envelope)):
                        self._apply(pending, result)
            self._settle_all(acked)
        return len(batch)

    def _settle_all(self, acked: list[_Pending]) -> None:
        """Ack a batch, with one ``multiple`` ack frame where that cannot ack anything else.

        A ``multiple`` ack settles every unacked delivery up to its tag on the
        channel, so it only covers tags below the lowest one this consumer
        still holds for other reasons (buffered, waiting for a retry): those
        must stay unacked or a crash would lose them. The rest are acked one
        by one. A transport without ``multiple_ack`` (memory://) always acks
        one by one.
        """
        if len(acked) < 2 or not self.link.multiple_ack:
            for pending in acked:
                self._settle(pending)
            return
        channel = acked[0].message.channel
        if any(p.message.channel is not channel for p in acked):
            for pending in acked:
                self._settle(pending)
            return
        ids = {id(p) for p in acked}
        held_lower = [p.message.delivery_tag for p in self._held.values()
                      if id(p) not in ids and not p.settled and p.message.channel is channel]
        limit = min(held_lower) if held_lower else None
        covered = [p for p in acked if limit is None or p.message.delivery_tag < limit]
        if len(covered) < 2:
            for pending in acked:
                self._settle(pending)
            return
        channel.basic_ack(max(p.message.delivery_tag for p in covered), multiple=True)
        for pending in covered:
            pending.settled = True
            self._held.pop(pending.seq, None)
        for pending in acked:
            if not pending.settled:
                self._settle(pending)

    def _invoke(self, deliveries: list[Delivery]) -> list[HandlerResult]:
        # One delivery: the handler's own log lines carry its ids too (a batch's handler binds per message).
        ids = {"message_id": deliveries[0].message_id, **_envelope_ids(deliveries[0].envelope)} \
            if len(deliveries) == 1 else {}
        with bound_contextvars(**ids):
            return self._invoke_bound(deliveries)

    def _invoke_bound(self, deliveries: list[Delivery]) -> list[HandlerResult]:
        try:
            results = self.handler(deliveries)
        except Exception as exc:  # noqa: BLE001 - a handler failure must never stop the consumer
            if len(deliveries) > 1:
                log.warning("consumer.batch_failed_isolating", consumer=self.name, size=len(deliveries),
                            error=type(exc).__name__)
                return [self._invoke(d_list)[0] for d_list in ([d] for d in deliveries)]
            return [self._result_for_exception(exc, deliveries[0])]
        if not isinstance(results, list) or len(results) != len(deliveries) or not all(
            isinstance(r, HandlerResult) for r in results
        ):
            got = len(results) if isinstance(results, list) else type(results).__name__
            log.error("consumer.handler_contract_broken", consumer=self.name, expected=len(deliveries), got=got)
            return [
                HandlerResult(Verdict.RETRY, None, f"handler returned {got} results for {len(deliveries)}")
                for _ in deliveries
            ]
        return results

    def _result_for_exception(self, exc: Exception, delivery: Delivery) -> HandlerResult:
        if isinstance(exc, MessageRejected):
            return HandlerResult(Verdict.REJECT, exc.reason, exc.detail)
        log.warning(
            "consumer.handler_error", consumer=self.name, message_id=delivery.message_id,
            error=type(exc).__name__, attempts=delivery.attempts,
        )
        return HandlerResult(Verdict.RETRY, None, f"{type(exc).__name__}: {exc}"[:MAX_DETAIL])

    def _apply(self, pending: _Pending, result: HandlerResult) -> None:
        if result.verdict == Verdict.ACK:
            self._settle(pending)
        elif result.verdict == Verdict.REJECT:
            self._park(pending, result.reason or RejectReason.PROCESSING_FAILURE, result.detail)
        elif pending.attempts >= self.max_attempts:
            detail = f"gave up after {pending.attempts} attempt(s)"
            if result.detail:
                detail += f"; last error: {result.detail}"
            self._park(pending, RejectReason.DELIVERY_LIMIT, detail)
        else:
            delay = min(self.retry_backoff_s * (2 ** (pending.attempts - 1)), self.retry_backoff_max_s)
            delay *= 1 + 0.1 * self._random.random()
            # WARNING: a delivery failed (it will be retried, then parked). The reason is a code (the
            # error's class name); the detail stays in the retry headers (it may quote the message).
            log.warning("consumer.retry_scheduled", consumer=self.name, message_id=pending.message_id,
                        queue=pending.queue, reason=_failure_code(result.detail), attempts=pending.attempts,
                        max_attempts=self.max_attempts, delay_s=round(delay, 3))
            self._defer(delay, pending, partial(self._retry, pending, result.detail))

    def _defer(self, delay: float, pending: _Pending, action: Callable[[], None]) -> None:
        # A deferred retry or park logs later, with the ids bound now.
        action = partial(_with_log_context, structlog.contextvars.get_contextvars(), action)
        heapq.heappush(self._deferred, _Deferred(time.monotonic() + delay, next(self._seq), action, pending))

    def _run_due(self) -> int:
        ran = 0
        while self._deferred and self._deferred[0].due <= time.monotonic():
            item = heapq.heappop(self._deferred)
            item.action()
            ran += 1
        if ran:
            self._last_activity = time.monotonic()
        return ran

    def _settle(self, pending: _Pending) -> None:
        pending.message.ack()
        pending.settled = True
        self._held.pop(pending.seq, None)

    def _route_headers(self, pending: _Pending) -> dict[str, Any]:
        headers = pending.headers
        for name in SERVER_HEADERS:
            headers.pop(name, None)
        info = pending.message.delivery_info or {}
        headers.setdefault(H_EXCHANGE, str(info.get("exchange") or ""))
        headers.setdefault(H_ROUTING_KEY, str(info.get("routing_key") or pending.queue))
        return headers

    def _copy(self, pending: _Pending, exchange: str, routing_key: str, headers: dict[str, Any]) -> RawMessage:
        body = pending.message.body
        props = pending.message.properties or {}
        return RawMessage(
            body=body.encode() if isinstance(body, str) else bytes(body or b""),
            exchange=exchange,
            routing_key=routing_key,
            message_id=pending.message_id,
            message_type=str(props.get("type") or "") or None,
            headers=headers,
        )

    def _publish_copy(self, raw: RawMessage) -> str | None:
        """Publish one follow-up copy with confirms; returns the failure reason or None."""
        confirmed, failed = self.link.publish([raw])
        if 0 in confirmed:
            return None
        return failed.get(0, "not confirmed")

    def _retry(self, pending: _Pending, detail: str) -> None:
        headers = self._route_headers(pending)
        headers[H_ATTEMPTS] = pending.attempts
        if detail:
            headers[H_LAST_ERROR] = detail[:MAX_DETAIL]
        # Through the queue owner's retry exchange (bound by queue name), never the default exchange:
        # least-privilege broker users may not write there (broker/permissions.py).
        retry_exchange = self.topology.retry_exchange_for(pending.queue)
        failure = self._publish_copy(self._copy(pending, retry_exchange, pending.queue, headers))
        if failure is not None:
            log.error("consumer.retry_publish_failed", consumer=self.name, message_id=pending.message_id)
            self._defer(5.0, pending, partial(self._retry, pending, detail))
            return
        self._settle(pending)

    def _park(self, pending: _Pending, reason: RejectReason, detail: str, notified: bool = False) -> None:
        if not notified and self.on_reject is not None:
            body = pending.message.body
            try:
                self.on_reject(Rejection(pending.queue, pending.message_id, reason, detail or "",
                                         body.encode() if isinstance(body, str) else bytes(body or b"")))
            except Exception as exc:  # noqa: BLE001 - hold the message and try again, never drop the record
                log.error("consumer.on_reject_failed", consumer=self.name, message_id=pending.message_id,
                          reason=reason.value, error=type(exc).__name__)
                self._defer(5.0, pending, partial(self._park, pending, reason, detail))
                return
        headers = self._route_headers(pending)
        headers.update(
            {
                H_REASON: reason.value,
                H_DETAIL: (detail or "")[:MAX_DETAIL],
                H_QUEUE: pending.queue,
                H_ATTEMPTS: pending.attempts,
                H_PARKED_AT: datetime.now(UTC).isoformat(),
            }
        )
        dlq = self.topology.dlq_for(pending.queue)
        failure = self._publish_copy(self._copy(pending, self.topology.dead_letter_exchange, dlq, headers))
        if failure is not None:
            # Keep holding it (unacked, so never lost) and try again later.
            log.error("consumer.park_failed", consumer=self.name, message_id=pending.message_id,
                      reason=reason.value, dlq=dlq)
            self._defer(5.0, pending, partial(self._park, pending, reason, detail, True))
            return
        # WARNING: a parked message needs a person (inspect, fix, replay or discard). The reason is a
        # code; the detail stays in the DLQ headers (it may quote what the sender sent).
        log.warning("consumer.parked", consumer=self.name, message_id=pending.message_id, reason=reason.value,
                    queue=pending.queue, dlq=dlq, attempts=pending.attempts)
        self._settle(pending)
