"""``Broker``: the one object hub and connectors use to talk over the broker.

One URL chooses the transport: ``memory://`` (embedded, in-process, the
default for one machine) or ``amqp://`` (RabbitMQ). The API and semantics are
the same; :func:`mashlink.broker.transport.open_transport` picks the
implementation and the differences stay inside it.

Runtime knobs (confirm timeout, heartbeats, publish window, retries, back-off,
reconnects) come from :class:`~mashlink.config.settings.BrokerRuntimeSettings`
(``settings.broker_runtime``); a keyword argument overrides one field for one
Broker and is validated like the settings.

Threading: a Broker is used from one thread. Each :class:`Consumer` it
creates owns its own connection, so consumers may run in their own threads.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import amqp
import structlog

from . import dlq as dlq_ops
from .codec import EnvelopeCodec
from .consumer import Consumer
from .errors import BrokerError, PublishError
from .link import LinkLost, RawMessage
from .messages import BatchHandler, OutgoingMessage, ParkedMessage, QueueStat
from .topology import QueueSpec, Topology
from .transport import Transport, open_transport
from ..config.settings import BrokerRuntimeSettings, BrokerTlsSettings, with_overrides

log = structlog.get_logger(__name__)

__all__ = ["Broker", "Consumer", "ParkedMessage", "QueueStat"]


class Broker:
    """Declare topology, publish with confirms, create consumers, operate DLQs."""

    def __init__(
        self,
        url: str,
        codec: EnvelopeCodec,
        topology: Topology,
        *,
        settings: BrokerRuntimeSettings | None = None,
        tls: BrokerTlsSettings | None = None,
        **overrides: Any,
    ) -> None:
        if not url or "://" not in url:
            raise ValueError(f"broker url {url!r} must look like memory:// or amqp://user:pass@host:5672//")
        self.url = url
        self.codec = codec
        self.topology = topology
        #: The runtime knobs in force (``settings.broker_runtime`` plus this Broker's overrides).
        self.settings = with_overrides(settings or BrokerRuntimeSettings(), overrides, "Broker")
        #: TLS options for amqps:// hosts (settings ``broker_tls``); every connection, consumers' too, uses them.
        self.tls = tls
        self._link = self._new_link()
        self._declared: dict[str, QueueSpec] = {}

    @property
    def is_embedded(self) -> bool:
        return self._link.embedded

    @property
    def link(self) -> Transport:
        """The publishing connection (public for diagnostics and fault-injection tests)."""
        return self._link

    def _new_link(self) -> Transport:
        return open_transport(self.url, self.settings, tls=self.tls)

    def _with_reconnect(self, what: str, fn: Any) -> Any:
        """Run ``fn`` and, after a lost connection, reconnect and run it again."""
        delay = 0.2
        for attempt in range(self.settings.reconnect_attempts + 1):
            try:
                return fn()
            except self._link.recoverable_errors as exc:
                if attempt >= self.settings.reconnect_attempts:
                    raise BrokerError(f"{what}: connection to the broker failed: {exc}") from exc
                log.warning("broker.reconnecting", operation=what, error=type(exc).__name__, attempt=attempt + 1)
                self._link.reset()
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    # ---- topology ------------------------------------------------------
    def declare(self, agency_ids: Iterable[str]) -> None:
        """Declare exchanges, queues, DLQs and bindings (idempotent)."""
        agencies = list(agency_ids)
        specs = self.topology.queues(agencies)

        def run() -> None:
            ch = self._link.channel()
            try:
                for name, kind in self.topology.exchanges(agencies):
                    ch.exchange_declare(exchange=name, type=kind, durable=True, auto_delete=False)
                for spec in specs:
                    ch.queue_declare(
                        queue=spec.name, durable=True, auto_delete=False, arguments=dict(spec.arguments) or None
                    )
                    for exchange, routing_key in spec.bindings:
                        ch.queue_bind(queue=spec.name, exchange=exchange, routing_key=routing_key)
            finally:
                try:
                    ch.close()
                except Exception:  # noqa: BLE001 - channel may have been closed by a declare error
                    pass

        try:
            self._with_reconnect("declare", run)
        except amqp.exceptions.PreconditionFailed as exc:
            raise BrokerError(
                f"a queue or exchange exists with different arguments ({exc}); "
                "delete it or use a matching Topology (namespace, delivery_limit)"
            ) from exc
        for spec in specs:
            self._declared[spec.name] = spec
        log.info("broker.declared", queues=len(specs), namespace=self.topology.namespace)

    def ensure_agency_queues(self, agency_id: str) -> None:
        """For an agency's connector: declare its queues, or, without the right to, check they exist.

        With least-privilege credentials (``broker/permissions.py``) an agency
        may not declare anything: the hub declared its queues and bindings.
        Then each of its work queues and their DLQs is checked passively, so
        a missing one is a clear error naming it, not a silent consumer on
        nothing. The DLQ specs are remembered either way (parking needs them).
        """
        try:
            self.declare([agency_id])
            return
        except amqp.exceptions.AccessRefused as exc:
            log.info("broker.declare_refused_checking_existing", agency_id=agency_id, detail=str(exc)[:200])
            self._link.reset()
        own = {*self.topology.enquiry_queues(agency_id), self.topology.agency_events_queue(agency_id)}
        wanted = own | {self.topology.dlq_for(q) for q in own}
        specs = [s for s in self.topology.queues([agency_id]) if s.name in wanted]
        missing = [stat.name for stat in self.queue_stats([s.name for s in specs]) if stat.messages < 0]
        if missing:
            raise BrokerError(f"queue(s) {', '.join(missing)} do not exist and this broker user may not declare "
                              "them: start the hub first (it declares every agency's queues)")
        for spec in specs:
            self._declared[spec.name] = spec

    @property
    def declared_queues(self) -> list[str]:
        return list(self._declared)

    def delete_topology(self, agency_ids: Iterable[str]) -> None:
        """Delete every queue and exchange of this namespace for ``agency_ids`` (tests, decommissioning)."""
        agencies = list(agency_ids)
        specs = self.topology.queues(agencies)

        def run() -> None:
            ch = self._link.channel()
            try:
                for spec in specs:
                    ch.queue_delete(queue=spec.name)
                for name, _kind in self.topology.exchanges(agencies):
                    try:
                        ch.exchange_delete(exchange=name)
                    except KeyError:  # memory:// raises for an exchange never declared
                        pass
            finally:
                ch.close()

        self._with_reconnect("delete_topology", run)
        for spec in specs:
            self._declared.pop(spec.name, None)

    # ---- publishing ----------------------------------------------------
    def _raw(self, message: OutgoingMessage) -> RawMessage:
        env = message.envelope
        return RawMessage(
            body=self.codec.encode(env),
            exchange=message.exchange,
            routing_key=message.routing_key,
            message_id=env.message_id,
            message_type=str(env.message_type),
        )

    def publish(self, messages: Sequence[OutgoingMessage]) -> None:
        """Sign and publish; return only when the broker confirmed every message.

        Many messages are in flight at once (``publish_window``). After a lost
        connection the unconfirmed ones are re-published on a new connection
        (consumers are idempotent on message id). Raises :class:`PublishError`
        naming each failed message id and listing the confirmed ones.
        """
        raws = [self._raw(m) for m in messages]
        self.publish_raw(raws)

    def publish_raw(self, raws: Sequence[RawMessage]) -> None:
        """Publish pre-encoded messages (replay, benchmarks, fault tests) with confirms."""
        total = len(raws)
        if total == 0:
            return
        pending = list(range(total))
        confirmed: set[int] = set()
        failed: dict[int, str] = {}
        reconnects = 0
        delay = 0.2
        while pending:
            batch = [raws[i] for i in pending]
            lost: LinkLost | None = None
            try:
                done, bad = self._link.publish(batch)
            except LinkLost as exc:
                done, bad, lost = exc.confirmed, exc.failed, exc
            confirmed.update(pending[j] for j in done)
            failed.update({pending[j]: reason for j, reason in bad.items()})
            if lost is None:
                break
            pending = [pending[j] for j in range(len(batch)) if j not in done and j not in bad]
            reconnects += 1
            if reconnects > self.settings.reconnect_attempts:
                failed.update({i: f"connection lost: {lost.cause}" for i in pending})
                break
            log.warning("broker.publish_reconnect", unconfirmed=len(pending), attempt=reconnects,
                        error=type(lost.cause).__name__)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        if failed:
            first = min(failed)
            raise PublishError(
                f"{len(failed)} of {total} message(s) not confirmed; first {raws[first].message_id}: {failed[first]}",
                failed={raws[i].message_id: reason for i, reason in sorted(failed.items())},
                confirmed=[raws[i].message_id for i in sorted(confirmed)],
            )

    # ---- consuming -----------------------------------------------------
    def consumer(
        self,
        queues: Sequence[str],
        handler: BatchHandler,
        *,
        prefetch: int = 100,
        max_batch: int = 100,
        max_wait_s: float = 0.02,
        name: str = "",
    ) -> Consumer:
        """A consumer on its own connection. ``queues`` are served in the order given."""
        return Consumer(
            self._new_link(),
            self.codec,
            self.topology,
            queues,
            handler,
            prefetch=prefetch,
            max_batch=max_batch,
            max_wait_s=max_wait_s,
            name=name,
            max_attempts=self.settings.max_attempts,
            retry_backoff_s=self.settings.retry_backoff_s,
            retry_backoff_max_s=self.settings.retry_backoff_max_s,
        )

    # ---- dead-letter queues ---------------------------------------------
    def _dlqs(self, queue: str | None = None) -> list[str]:
        if queue is not None:
            return [queue if queue.endswith(".dlq") else self.topology.dlq_for(queue)]
        dlqs = [name for name, spec in self._declared.items() if spec.is_dlq]
        if not dlqs:
            raise BrokerError("no dead-letter queues known: call declare(agency_ids) first")
        return dlqs

    def dlq_list(self, queue: str | None = None, *, limit: int = 1000) -> list[ParkedMessage]:
        """Parked messages of one queue's DLQ, or of every declared DLQ; nothing is removed."""
        dlqs = self._dlqs(queue)
        return self._with_reconnect("dlq_list", lambda: dlq_ops.list_parked(self._link, dlqs, limit))

    def dlq_get(self, message_id: str, queue: str | None = None) -> ParkedMessage | None:
        dlqs = self._dlqs(queue)

        def run() -> ParkedMessage | None:
            try:
                return dlq_ops.find_and(self._link, dlqs, message_id, lambda _p, _m: False)
            except dlq_ops.ParkedMessageNotFound:
                return None

        return self._with_reconnect("dlq_get", run)

    def _publish_one(self, raw: RawMessage) -> None:
        self.publish_raw([raw])

    def dlq_replay(self, message_id: str, queue: str | None = None) -> ParkedMessage:
        """Republish to the original queue (confirmed), then remove the parked copy.

        Raises ParkedMessageNotFound or PublishError (the parked copy then stays).
        """
        dlqs = self._dlqs(queue)
        return self._with_reconnect(
            "dlq_replay", lambda: dlq_ops.replay(self._link, self._publish_one, dlqs, message_id,
                                                 exchange=self.topology.replay_exchange)
        )

    def dlq_discard(self, message_id: str, queue: str | None = None) -> ParkedMessage:
        dlqs = self._dlqs(queue)
        return self._with_reconnect("dlq_discard", lambda: dlq_ops.discard(self._link, dlqs, message_id))

    # ---- operations ------------------------------------------------------
    def queue_stats(self, queues: Sequence[str] | None = None) -> list[QueueStat]:
        """Ready messages and consumers per queue (memory:// cannot count consumers: 0)."""
        names = list(queues) if queues is not None else list(self._declared)

        def run() -> list[QueueStat]:
            stats = []
            ch = self._link.channel()
            try:
                for name in names:
                    try:
                        ok = ch.queue_declare(queue=name, passive=True)
                    except self._link.connection_errors():
                        raise
                    except Exception:  # noqa: BLE001 - NOT_FOUND: report as absent
                        stats.append(QueueStat(name=name, messages=-1, consumers=0))
                        try:
                            ch.close()
                        except Exception:  # noqa: BLE001
                            pass
                        ch = self._link.channel()
                        continue
                    stats.append(QueueStat(name=name, messages=ok.message_count, consumers=ok.consumer_count))
            finally:
                try:
                    ch.close()
                except Exception:  # noqa: BLE001
                    pass
            return stats

        return self._with_reconnect("queue_stats", run)

    def heartbeat(self) -> None:
        """Send/check AMQP heartbeats on the publishing connection.

        A long-lived publisher that sits idle (an outbox relay between
        batches) should call this every few seconds; if the connection died
        meanwhile, the next publish reconnects anyway and re-publishes.
        """
        try:
            self._link.heartbeat_check()
        except self._link.recoverable_errors as exc:
            log.warning("broker.heartbeat_failed", error=type(exc).__name__)
            self._link.reset()

    def close(self) -> None:
        self._link.close()

    def __enter__(self) -> Broker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
