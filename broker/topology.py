"""Names and shape of every exchange and queue, declared idempotently by code.

Red work must never wait behind amber or green work. RabbitMQ 3.10 quorum
queues have no priorities, so each agency gets one enquiry queue per RAG
rating and connectors consume the red queue on its own consumer.

Exchanges (all durable):

* ``{ns}.enquiries`` direct, routing key ``{agency}.{rag}``
* ``{ns}.hub``       direct, routing key ``responses``
* ``{ns}.events``    topic, keys such as ``alert.unscheduled_care_attendance``,
  ``outcome.<agency>``, ``decision.<agency>``, ``escalation.overdue.<agency>``
* ``{ns}.dlx``       direct, routing key = DLQ name; every work queue
  dead-letters here (broker backstop) and the application parks here too.
* ``{ns}.replay``    direct, routing key = work queue name: a replayed
  parked message goes back to exactly the queue it was consumed from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .messages import OutgoingMessage
from ..schemas.codes import Rag
from ..schemas.envelope import Envelope

_AGENCY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
_NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")
RAG_ORDER: tuple[Rag, ...] = (Rag.RED, Rag.AMBER, Rag.GREEN)


@dataclass(frozen=True)
class QueueSpec:
    """A queue, its bindings and whether it is a dead-letter queue."""

    name: str
    bindings: tuple[tuple[str, str], ...] = ()
    dead_letter_queue: str | None = None  # None for DLQs themselves
    is_dlq: bool = False
    arguments: dict[str, object] = field(default_factory=dict, hash=False, compare=False)


class Topology:
    """All names derive from ``namespace`` so tests and tenants never collide."""

    def __init__(
        self,
        namespace: str = "mashlink",
        *,
        delivery_limit: int = 20,
        hub_event_patterns: Sequence[str] = ("alert.#", "referral.#", "receipt.#"),
    ) -> None:
        if not _NAMESPACE.match(namespace):
            raise ValueError(f"namespace {namespace!r} must match {_NAMESPACE.pattern}")
        if delivery_limit < 1:
            raise ValueError("delivery_limit must be >= 1")
        self.namespace = namespace
        #: Quorum-queue ``x-delivery-limit``: backstop against consumer crash
        #: loops. Fixed at declare time (RabbitMQ refuses a changed argument),
        #: so it lives here rather than on a Broker.
        self.delivery_limit = delivery_limit
        self.hub_event_patterns = tuple(hub_event_patterns)
        self.enquiries_exchange = f"{namespace}.enquiries"
        self.hub_exchange = f"{namespace}.hub"
        self.events_exchange = f"{namespace}.events"
        self.dead_letter_exchange = f"{namespace}.dlx"
        self.responses_queue = f"{namespace}.hub.responses"
        self.events_queue = f"{namespace}.hub.events"
        #: Outcomes for the referrer (who may be outside every agency) wait here
        #: for the notification channel (email, portal) to collect them, so an
        #: outcome is never unroutable and ops can see what is still to be told.
        self.referrer_outcomes_queue = f"{namespace}.referrer.outcomes"
        #: Replays of parked messages: every work queue is bound here by its own name. Not the
        #: default exchange: writing there needs a grant on ``amq.default``, which reaches every
        #: queue of the virtual host; this one is inside the hub's namespace and agencies may not
        #: publish to it (``broker/permissions.py``).
        self.replay_exchange = f"{namespace}.replay"
        #: Retries (a handler asked to try again later) go back through the queue owner's own retry
        #: exchange, each of its work queues bound by its own name. Not the default exchange (a
        #: grant there reaches every queue of the virtual host) and not one shared exchange (an
        #: agency could then put a copy on another agency's queue): an agency may write only to
        #: ``{ns}.retry.agency.<its id>``, the referrer notifier only to ``{ns}.retry.referrer``.
        self.hub_retry_exchange = f"{namespace}.retry.hub"
        self.referrer_retry_exchange = f"{namespace}.retry.referrer"

    # ---- names ---------------------------------------------------------
    @staticmethod
    def _check_agency(agency_id: str) -> str:
        if not _AGENCY_ID.match(agency_id):
            raise ValueError(f"agency id {agency_id!r} must match {_AGENCY_ID.pattern}")
        return agency_id

    def enquiry_queue(self, agency_id: str, rag: Rag | str) -> str:
        return f"{self.namespace}.enquiry.{self._check_agency(agency_id)}.{Rag(rag).value}"

    def enquiry_queues(self, agency_id: str) -> list[str]:
        """Red first: a consumer given several queues serves them in this order."""
        return [self.enquiry_queue(agency_id, rag) for rag in RAG_ORDER]

    def agency_events_queue(self, agency_id: str) -> str:
        return f"{self.namespace}.events.{self._check_agency(agency_id)}"

    def dlq_for(self, queue: str) -> str:
        return f"{queue}.dlq"

    def agency_retry_exchange(self, agency_id: str) -> str:
        return f"{self.namespace}.retry.agency.{self._check_agency(agency_id)}"

    def retry_exchange_for(self, queue: str) -> str:
        """The retry exchange of the queue's owner (see ``hub_retry_exchange``); DLQs are never retried."""
        if queue in (self.responses_queue, self.events_queue):
            return self.hub_retry_exchange
        if queue == self.referrer_outcomes_queue:
            return self.referrer_retry_exchange
        for prefix in (f"{self.namespace}.enquiry.", f"{self.namespace}.events."):
            if queue.startswith(prefix) and not queue.endswith(".dlq"):
                return self.agency_retry_exchange(queue[len(prefix):].split(".", 1)[0])
        raise ValueError(f"queue {queue!r} is not a work queue of namespace {self.namespace!r}")

    # ---- routes --------------------------------------------------------
    def enquiry(self, env: Envelope) -> OutgoingMessage:
        if env.rag is None:
            raise ValueError("envelope.rag is required to route an enquiry (red/amber/green)")
        agency = self._check_agency(env.recipient)
        return OutgoingMessage(
            envelope=env, exchange=self.enquiries_exchange, routing_key=f"{agency}.{Rag(env.rag).value}"
        )

    def response(self, env: Envelope) -> OutgoingMessage:
        return OutgoingMessage(envelope=env, exchange=self.hub_exchange, routing_key="responses")

    def event(self, env: Envelope, routing_key: str) -> OutgoingMessage:
        if not routing_key or "#" in routing_key or "*" in routing_key:
            raise ValueError(f"event routing_key {routing_key!r} must be a concrete dotted key")
        return OutgoingMessage(envelope=env, exchange=self.events_exchange, routing_key=routing_key)

    # ---- shape ---------------------------------------------------------
    def exchanges(self, agency_ids: Iterable[str] = ()) -> list[tuple[str, str]]:
        """The namespace's exchanges, with the retry exchanges of the hub, the referrer and ``agency_ids``."""
        return [
            (self.enquiries_exchange, "direct"),
            (self.hub_exchange, "direct"),
            (self.events_exchange, "topic"),
            (self.dead_letter_exchange, "direct"),
            (self.replay_exchange, "direct"),
            (self.hub_retry_exchange, "direct"),
            (self.referrer_retry_exchange, "direct"),
            *((self.agency_retry_exchange(a), "direct") for a in dict.fromkeys(agency_ids)),
        ]

    def work_queue_arguments(self, queue: str) -> dict[str, object]:
        """Quorum queue, at-least-once dead-lettering to its DLQ, delivery limit."""
        return {
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": self.dead_letter_exchange,
            "x-dead-letter-routing-key": self.dlq_for(queue),
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
            "x-delivery-limit": self.delivery_limit,
        }

    @staticmethod
    def dlq_arguments() -> dict[str, object]:
        return {"x-queue-type": "quorum"}

    def work_queues(self, agency_ids: Iterable[str]) -> list[QueueSpec]:
        """Every work queue (not DLQs) for the hub and the given agencies."""
        specs = [
            QueueSpec(self.responses_queue, ((self.hub_exchange, "responses"),)),
            QueueSpec(
                self.events_queue, tuple((self.events_exchange, p) for p in self.hub_event_patterns)
            ),
        ]
        specs.append(QueueSpec(self.referrer_outcomes_queue, ((self.events_exchange, "outcome.referrer"),)))
        for agency in dict.fromkeys(agency_ids):
            self._check_agency(agency)
            for rag in RAG_ORDER:
                specs.append(
                    QueueSpec(
                        self.enquiry_queue(agency, rag),
                        ((self.enquiries_exchange, f"{agency}.{rag.value}"),),
                    )
                )
            specs.append(
                QueueSpec(
                    self.agency_events_queue(agency),
                    (
                        (self.events_exchange, f"outcome.{agency}"),
                        (self.events_exchange, f"decision.{agency}"),
                        (self.events_exchange, f"escalation.*.{agency}"),
                    ),
                )
            )
        return [
            QueueSpec(s.name, (*s.bindings, (self.replay_exchange, s.name), (self.retry_exchange_for(s.name), s.name)),
                      self.dlq_for(s.name), False, self.work_queue_arguments(s.name))
            for s in specs
        ]

    def queues(self, agency_ids: Iterable[str]) -> list[QueueSpec]:
        """Work queues followed by their DLQs (each bound on the DLX by its own name)."""
        work = self.work_queues(agency_ids)
        dlqs = [
            QueueSpec(
                self.dlq_for(s.name),
                ((self.dead_letter_exchange, self.dlq_for(s.name)),),
                None,
                True,
                self.dlq_arguments(),
            )
            for s in work
        ]
        return work + dlqs
