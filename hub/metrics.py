"""What ``/metrics`` exposes: a list of small sections, each yielding Prometheus metric families.

Why sections: each figure has one source (the database, the broker's queue
declares, the dead-letter queues, the audit watch) and one job, and adding a
figure is one function plus one line in ``SECTIONS``. A section whose source
fails (the broker down during a scrape) is left out and reported as
``mashlink_metrics_section_ok{section} 0``; the others are still exposed,
because the database figures (relay lag rising) matter most exactly when the
broker is down. Every scrape reads the
sources afresh (one short read transaction for the database figures), so
several hub instances behind one scraper report the same cluster-wide totals;
nothing is kept in process memory that a restart would reset.

Totals derived from the database (enquiries sent, answered, escalated
overdue; dead letters replayed and discarded from the audit trail) are
exposed as counters: they only grow, so ``rate()`` and ``increase()`` work.

``METRICS`` names every family a section may emit with its type; the alert
rules in ``deploy/prometheus/`` are checked against ``exposed_series()`` so a
rule never names a series the hub does not expose.
"""

from __future__ import annotations

import re
from collections import Counter as Tally
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from .loop_metrics import GAUGES as LOOP_GAUGES
from .loop_metrics import add_loop_metrics
from .models import OUTSTANDING, AlertRow, AuditEventRow, EnquiryRow, OutboxRow, ResponseRow

log = structlog.get_logger(__name__)

if TYPE_CHECKING:
    from .audit_watch import AuditCheck
    from .dead_letters import DeadLetters
    from .service import HubService

#: Round trip (enquiry sent -> final answer received) bucket bounds in seconds: a minute to a working week.
ROUND_TRIP_BUCKETS_S: tuple[float, ...] = (
    1, 5, 15, 60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 24 * 3600, 72 * 3600, 7 * 24 * 3600,
)

#: Every family a section may emit: name -> Prometheus type.
METRICS: dict[str, str] = {
    "mashlink_enquiries_open": "gauge",
    "mashlink_enquiries_at_risk": "gauge",
    "mashlink_enquiries_overdue": "gauge",
    "mashlink_enquiries_sent": "counter",
    "mashlink_enquiries_answered": "counter",
    "mashlink_enquiries_overdue_raised": "counter",
    "mashlink_enquiry_oldest_open_timestamp_seconds": "gauge",
    "mashlink_enquiry_round_trip_seconds": "histogram",
    "mashlink_outbox_unpublished": "gauge",
    "mashlink_outbox_relay_lag_seconds": "gauge",
    "mashlink_connector_last_seen_timestamp_seconds": "gauge",
    "mashlink_queue_messages": "gauge",
    "mashlink_queue_consumers": "gauge",
    "mashlink_dead_letters_parked": "gauge",
    "mashlink_dead_letters_replayed": "counter",
    "mashlink_dead_letters_discarded": "counter",
    "mashlink_audit_chain_ok": "gauge",
    "mashlink_audit_chain_checked_timestamp_seconds": "gauge",
    "mashlink_audit_chain_head_sequence": "gauge",
    "mashlink_metrics_section_ok": "gauge",
    # Closing the loop (outcomes, alerts, decisions): hub.loop_metrics.
    **{name: "gauge" for name, _help, _field in LOOP_GAUGES},
}

_SUFFIXES = {"gauge": ("",), "counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}

#: How the dead-letter actions write their audit reason (``hub.dead_letters.ops_reason``).
_OPS_REASON = re.compile(r"\(queue (?P<queue>[^,()]+), parked for (?P<reason>[a-z_]+)\)$")


def exposed_series() -> set[str]:
    """Every sample name ``/metrics`` may carry (``_total``, ``_bucket``... included), for rule checks."""
    return {name + suffix for name, kind in METRICS.items() for suffix in _SUFFIXES[kind]}


@dataclass
class MetricSources:
    """Where the figures come from; a missing source leaves its section's families empty."""

    service: "HubService"
    queue_stats: Callable[[], list[Any]] | None = None
    dead_letters: "DeadLetters | None" = None
    audit_check: "Callable[[], AuditCheck | None] | None" = None
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


Section = Callable[[MetricSources], Iterable[Metric]]


def _seconds(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    assert METRICS[name] == "gauge", name
    return GaugeMetricFamily(name, doc, labels=labels)


def _counter(name: str, doc: str, labels: list[str]) -> CounterMetricFamily:
    assert METRICS[name] == "counter", name
    return CounterMetricFamily(name, doc, labels=labels)


# ---------------------------------------------------------------------------- sections
def open_enquiries(src: MetricSources) -> Iterable[Metric]:
    """Outstanding enquiries now, by agency and RAG: open, at risk, overdue."""
    open_g = _gauge("mashlink_enquiries_open", "Open enquiries", ["agency", "rag"])
    risk_g = _gauge("mashlink_enquiries_at_risk", "At-risk enquiries", ["agency", "rag"])
    over_g = _gauge("mashlink_enquiries_overdue", "Overdue enquiries", ["agency", "rag"])
    for row in src.service.open_enquiry_stats(src.now).rows:
        labels = [row.agency_id, row.rag.value]
        open_g.add_metric(labels, row.open)
        risk_g.add_metric(labels, row.at_risk)
        over_g.add_metric(labels, row.overdue)
    return [open_g, risk_g, over_g]


def enquiry_totals(src: MetricSources) -> Iterable[Metric]:
    """Enquiries ever sent, answered (a final answer) and escalated overdue, by agency and RAG."""
    sent = _counter("mashlink_enquiries_sent", "Enquiries sent to agencies", ["agency", "rag"])
    answered = _counter("mashlink_enquiries_answered", "Enquiries with a final answer", ["agency", "rag"])
    overdue = _counter("mashlink_enquiries_overdue_raised", "Enquiries escalated as overdue", ["agency", "rag"])
    oldest = _gauge("mashlink_enquiry_oldest_open_timestamp_seconds",
                    "When the oldest outstanding enquiry to each agency was sent", ["agency"])
    with src.service.store.read() as session:
        totals = session.execute(
            select(EnquiryRow.agency_id, EnquiryRow.rag, func.count(), func.count(EnquiryRow.answered_at),
                   func.count(EnquiryRow.overdue_raised_at))
            .group_by(EnquiryRow.agency_id, EnquiryRow.rag).order_by(EnquiryRow.agency_id, EnquiryRow.rag)
        ).all()
        oldest_rows = session.execute(
            select(EnquiryRow.agency_id, func.min(EnquiryRow.requested_at))
            .where(EnquiryRow.status.in_(OUTSTANDING)).group_by(EnquiryRow.agency_id)
        ).all()
    for agency, rag, n_sent, n_answered, n_overdue in totals:
        sent.add_metric([agency, rag], n_sent)
        answered.add_metric([agency, rag], n_answered)
        overdue.add_metric([agency, rag], n_overdue)
    for agency, requested in oldest_rows:
        oldest.add_metric([agency], _seconds(requested))
    return [sent, answered, overdue, oldest]


def round_trip(src: MetricSources) -> Iterable[Metric]:
    """Enquiry sent -> final answer received, in seconds, as a histogram over every answered enquiry."""
    with src.service.store.read() as session:
        pairs = session.execute(
            select(EnquiryRow.requested_at, EnquiryRow.answered_at).where(EnquiryRow.answered_at.is_not(None))
        ).all()
    durations = [max(0.0, _seconds(answered) - _seconds(requested)) for requested, answered in pairs]
    buckets: list[tuple[str, float]] = []
    for bound in ROUND_TRIP_BUCKETS_S:
        buckets.append((repr(float(bound)), float(sum(1 for d in durations if d <= bound))))
    buckets.append(("+Inf", float(len(durations))))
    histogram = HistogramMetricFamily("mashlink_enquiry_round_trip_seconds",
                                      "Enquiry sent to final answer received", buckets=buckets,
                                      sum_value=sum(durations))
    return [histogram]


def relay_lag(src: MetricSources) -> Iterable[Metric]:
    """Outbox rows not yet confirmed by the broker, and the age of the oldest (0 when none)."""
    with src.service.store.read() as session:
        count, oldest = session.execute(
            select(func.count(), func.min(OutboxRow.created_at)).where(OutboxRow.published_at.is_(None))
        ).one()
    unpublished = _gauge("mashlink_outbox_unpublished", "Outbox rows waiting to be published")
    unpublished.add_metric([], count)
    lag = _gauge("mashlink_outbox_relay_lag_seconds", "Age of the oldest unpublished outbox row (0 when none)")
    lag.add_metric([], 0.0 if oldest is None else max(0.0, src.now.timestamp() - _seconds(oldest)))
    return [unpublished, lag]


def connector_last_seen(src: MetricSources) -> Iterable[Metric]:
    """When the hub last received a message (response or alert) from each agency."""
    with src.service.store.read() as session:
        seen: dict[str, datetime] = {}
        for model in (ResponseRow, AlertRow):
            rows = session.execute(select(model.agency_id, func.max(model.received_at)).group_by(model.agency_id))
            for agency, at in rows:
                if at is not None and (agency not in seen or _seconds(at) > _seconds(seen[agency])):
                    seen[agency] = at
    gauge = _gauge("mashlink_connector_last_seen_timestamp_seconds",
                   "When the last message from each agency's connector was received", ["agency"])
    for agency in sorted(seen):
        gauge.add_metric([agency], _seconds(seen[agency]))
    return [gauge]


def queues(src: MetricSources) -> Iterable[Metric]:
    """Ready messages and consumers per queue, from passive declares (absent queues are skipped)."""
    depth = _gauge("mashlink_queue_messages", "Messages ready in a queue", ["queue"])
    consumers = _gauge("mashlink_queue_consumers", "Consumers on a queue", ["queue"])
    if src.queue_stats is not None:
        for stat in src.queue_stats():
            if stat.messages < 0:  # not declared yet
                continue
            depth.add_metric([stat.name], stat.messages)
            consumers.add_metric([stat.name], stat.consumers)
    return [depth, consumers]


def dead_letters_parked(src: MetricSources) -> Iterable[Metric]:
    """Messages parked now, by the queue they came from and why (browsed, nothing removed)."""
    gauge = _gauge("mashlink_dead_letters_parked", "Messages parked in a dead-letter queue", ["queue", "reason"])
    if src.dead_letters is not None:
        tally = Tally((p.queue, p.reason.value) for p in src.dead_letters.list())
        for (queue, reason), n in sorted(tally.items()):
            gauge.add_metric([queue, reason], n)
    return [gauge]


def dead_letter_actions(src: MetricSources) -> Iterable[Metric]:
    """Parked messages replayed and discarded by operators, from the audit trail, by queue and reason."""
    replayed = _counter("mashlink_dead_letters_replayed", "Parked messages replayed", ["queue", "reason"])
    discarded = _counter("mashlink_dead_letters_discarded", "Parked messages discarded", ["queue", "reason"])
    with src.service.store.read() as session:
        rows = session.execute(
            select(AuditEventRow.action, AuditEventRow.reason)
            .where(AuditEventRow.action.in_(("dlq.replayed", "dlq.discarded")))
        ).all()
    tally: Tally[tuple[str, str, str]] = Tally()
    for action, reason in rows:
        match = _OPS_REASON.search(reason or "")
        queue, why = (match["queue"], match["reason"]) if match else ("unknown", "unknown")
        tally[(action, queue, why)] += 1
    for (action, queue, why), n in sorted(tally.items()):
        (replayed if action == "dlq.replayed" else discarded).add_metric([queue, why], n)
    return [replayed, discarded]


def audit_chain(src: MetricSources) -> Iterable[Metric]:
    """The hub's scheduled audit self-check; nothing until the first check has run."""
    check = src.audit_check() if src.audit_check is not None else None
    if check is None:
        return []
    ok = _gauge("mashlink_audit_chain_ok", "1 when the last scheduled audit check passed, 0 when it found tampering")
    ok.add_metric([], 1 if check.ok else 0)
    at = _gauge("mashlink_audit_chain_checked_timestamp_seconds", "When the audit chain was last checked")
    at.add_metric([], check.checked_at.timestamp())
    head = _gauge("mashlink_audit_chain_head_sequence", "Events in the audit chain at the last check")
    head.add_metric([], check.head_sequence)
    return [ok, at, head]


def closing_the_loop(src: MetricSources) -> Iterable[Metric]:
    """Outcomes, alerts and decisions not yet settled (``hub.loop_metrics``, at the service clock)."""
    registry = CollectorRegistry(auto_describe=False)
    add_loop_metrics(registry, src.service)
    return list(registry.collect())


#: The sections of ``/metrics``, in exposition order. Adding a figure is one line here.
SECTIONS: list[Section] = [
    open_enquiries,
    enquiry_totals,
    round_trip,
    relay_lag,
    connector_last_seen,
    queues,
    dead_letters_parked,
    dead_letter_actions,
    audit_chain,
    closing_the_loop,
]


class _SectionsCollector(Collector):
    def __init__(self, sources: MetricSources, sections: Iterable[Section]) -> None:
        self.sources, self.sections = sources, list(sections)

    def collect(self) -> Iterable[Metric]:
        health = _gauge("mashlink_metrics_section_ok", "1 when the section's source answered this scrape, "
                        "0 when it failed (its series are missing)", ["section"])
        for section in self.sections:
            name = getattr(section, "__name__", type(section).__name__)
            try:
                families = list(section(self.sources))
            except Exception as exc:  # noqa: BLE001 - one failing source must not hide the others
                log.warning("metrics.section_failed", section=name, error=type(exc).__name__)
                health.add_metric([name], 0)
                continue
            health.add_metric([name], 1)
            yield from families
        yield health


def registry_for(sources: MetricSources, sections: Iterable[Section] | None = None) -> CollectorRegistry:
    """A fresh registry holding the sections over ``sources`` (others may register more on it)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SectionsCollector(sources, SECTIONS if sections is None else sections))
    return registry


def exposition(sources: MetricSources, sections: Iterable[Section] | None = None) -> bytes:
    """The Prometheus text format of every section over ``sources``."""
    return generate_latest(registry_for(sources, sections))


__all__ = ["METRICS", "MetricSources", "ROUND_TRIP_BUCKETS_S", "SECTIONS", "Section", "exposed_series",
           "exposition", "registry_for"]
