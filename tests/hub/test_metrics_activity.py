"""``/metrics`` after real activity: every section's figures, parsed with prometheus_client's own parser.

Real database (SQLite and PostgreSQL), real HTTP, the scraper's own token,
a real broker (memory://) holding a message parked by a real consumer, and
the hub's deadline tracker and outbox relay. A fake clock makes the round
trip and the relay lag exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from mashlink.config.security import MetricsAccess, Role
from mashlink.hub.dead_letters import BrokerDeadLetters
from mashlink.hub.metrics import METRICS, ROUND_TRIP_BUCKETS_S, exposed_series
from mashlink.hub.service import HubService
from mashlink.ops.web.hub_app import build_hub_app
from tests.hub.api_support import Tokens, serve
from tests.hub.conftest import HubDb
from tests.hub.dead_letter_support import delete_topology, hub_brokers, park_referral
from tests.hub.hub_support import FakeClock, referral_data
from tests.hub.test_hub_service import _response

SCRAPER_TOKEN = "synthetic-scraper-token-for-tests"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: httpx.Client, token: str = SCRAPER_TOKEN) -> tuple[Samples, set[str]]:
    """Every sample of ``/metrics`` keyed by (sample name, labels), and the family names."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    samples: Samples = {}
    families = set()
    for family in text_string_to_metric_families(response.text):
        families.add(family.name)
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples, families


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@pytest.fixture
def scraped_hub(hub_db: HubDb, hub: HubService, clock: FakeClock) -> Iterator[tuple[HubService, httpx.Client]]:
    security = hub.settings.security.model_copy(update={"metrics": MetricsAccess(token=SecretStr(SCRAPER_TOKEN))})
    settings = hub.settings.model_copy(update={"security": security})
    service = HubService(settings, hub_db.engine, topology=hub.topology, clock=clock)
    brokers = hub_brokers(settings, "memory://", hub.topology)
    agencies = [a.id for a in settings.agencies]

    def queue_stats():  # type: ignore[no-untyped-def]
        broker = brokers()
        try:
            return broker.queue_stats([q.name for q in hub.topology.queues(agencies)])
        finally:
            broker.close()

    app = build_hub_app(service, queue_stats=queue_stats, dead_letters=BrokerDeadLetters(brokers, agencies))
    try:
        with serve(app) as client:
            yield service, client
    finally:
        delete_topology(settings, "memory://", hub.topology)


def test_metrics_after_referrals_answers_escalations_and_dead_letters(
        scraped_hub: tuple[HubService, httpx.Client], clock: FakeClock) -> None:
    service, client = scraped_hub
    start = clock()
    red = service.submit_referral(referral_data("REF-MET-1", rag="red"), agencies=["police-synth", "health-synth"])
    service.submit_referral(referral_data("REF-MET-2", rag="green"), agencies=["education-synth"])
    police, health = red.enquiry_for("police-synth"), red.enquiry_for("health-synth")

    clock.advance(minutes=90)
    service.handle_responses([_response(police.enquiry_id, "police-synth", referral_id="REF-MET-1")])
    answered_at = clock()
    samples, families = scrape(client)
    assert families == set(METRICS) - {"mashlink_audit_chain_ok", "mashlink_audit_chain_checked_timestamp_seconds",
                                       "mashlink_audit_chain_head_sequence"}  # no audit check has run here
    assert {name for name, _ in samples} <= exposed_series()

    # Totals per agency and RAG.
    assert value(samples, "mashlink_enquiries_sent_total", agency="police-synth", rag="red") == 1
    assert value(samples, "mashlink_enquiries_sent_total", agency="health-synth", rag="red") == 1
    assert value(samples, "mashlink_enquiries_sent_total", agency="education-synth", rag="green") == 1
    assert value(samples, "mashlink_enquiries_answered_total", agency="police-synth", rag="red") == 1
    assert value(samples, "mashlink_enquiries_answered_total", agency="health-synth", rag="red") == 0
    assert value(samples, "mashlink_enquiries_open", agency="health-synth", rag="red") == 1
    assert value(samples, "mashlink_enquiries_open", agency="police-synth", rag="red") is None  # answered
    assert value(samples, "mashlink_enquiry_oldest_open_timestamp_seconds", agency="health-synth") \
        == start.timestamp()

    # Round trip: one answer after 90 minutes.
    assert value(samples, "mashlink_enquiry_round_trip_seconds_count") == 1
    assert value(samples, "mashlink_enquiry_round_trip_seconds_sum") == 90 * 60
    for bound in ROUND_TRIP_BUCKETS_S:
        assert value(samples, "mashlink_enquiry_round_trip_seconds_bucket", le=repr(float(bound))) \
            == (1 if bound >= 90 * 60 else 0), bound
    assert value(samples, "mashlink_enquiry_round_trip_seconds_bucket", le="+Inf") == 1

    # Relay lag: nothing has been published; the oldest row is 90 minutes old.
    assert value(samples, "mashlink_outbox_unpublished") == 3
    assert value(samples, "mashlink_outbox_relay_lag_seconds") == 90 * 60

    # Connector last seen: the police answer only.
    assert value(samples, "mashlink_connector_last_seen_timestamp_seconds", agency="police-synth") \
        == answered_at.timestamp()
    assert value(samples, "mashlink_connector_last_seen_timestamp_seconds", agency="health-synth") is None

    # The red health enquiry goes overdue; the relay publishes everything.
    clock.advance(seconds=(health.due_at - clock()).total_seconds() + 3600)
    service.deadline_tracker().tick()
    broker = hub_brokers(service.settings, "memory://", service.topology)()
    try:
        broker.declare([a.id for a in service.settings.agencies])
        assert service.outbox_relay(broker).drain() > 0
    finally:
        broker.close()
    samples, _ = scrape(client)
    assert value(samples, "mashlink_enquiries_overdue_raised_total", agency="health-synth", rag="red") == 1
    assert value(samples, "mashlink_enquiries_overdue", agency="health-synth", rag="red") == 1
    assert value(samples, "mashlink_outbox_unpublished") == 0
    assert value(samples, "mashlink_outbox_relay_lag_seconds") == 0
    police_red = service.topology.enquiry_queue("police-synth", "red")
    assert value(samples, "mashlink_queue_messages", queue=police_red) == 1  # the enquiry, waiting
    assert value(samples, "mashlink_queue_consumers", queue=police_red) == 0


def test_dead_letters_parked_replayed_and_discarded_per_queue_and_reason(
        scraped_hub: tuple[HubService, httpx.Client]) -> None:
    service, client = scraped_hub
    settings, topology = service.settings, service.topology
    events = topology.events_queue
    first, second, _third = (park_referral(settings, "memory://", topology) for _ in range(3))
    samples, _ = scrape(client)
    assert value(samples, "mashlink_dead_letters_parked", queue=events, reason="processing_failure") == 3
    assert value(samples, "mashlink_queue_messages", queue=topology.dlq_for(events)) == 3

    ops = Tokens(settings)(Role.OPS, user="ops-metrics")
    assert client.post(f"/dead-letters/{first}/replay", json={"reason": "fixed"}, headers=ops).status_code == 200
    assert client.post(f"/dead-letters/{second}/discard", json={"reason": "junk"}, headers=ops).status_code == 200
    samples, _ = scrape(client)
    assert value(samples, "mashlink_dead_letters_parked", queue=events, reason="processing_failure") == 1
    assert value(samples, "mashlink_dead_letters_replayed_total", queue=events, reason="processing_failure") == 1
    assert value(samples, "mashlink_dead_letters_discarded_total", queue=events, reason="processing_failure") == 1
    assert value(samples, "mashlink_queue_messages", queue=events) == 1  # the replayed message is back

    # Without the scraper token (and without a principal) /metrics is refused.
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer not-the-token"}).status_code == 401


def test_every_declared_family_is_emitted_and_audit_gauges_follow_the_check(hub: HubService) -> None:
    """The declared list cannot drift from what the sections emit (the alert rules are checked against it)."""
    from mashlink.hub.audit_watch import AuditWatch
    from mashlink.hub.metrics import MetricSources, exposition

    watch = AuditWatch(hub, anchor_file=hub.settings.state_dir / "anchor-metrics.json")
    hub.submit_referral(referral_data("REF-MET-AUD"))
    watch.run_once()
    text = exposition(MetricSources(hub, queue_stats=lambda: [], dead_letters=None,
                                    audit_check=lambda: watch.last, now=hub.clock())).decode()
    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert families == METRICS
    samples = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples if not s.labels}
    assert samples["mashlink_audit_chain_ok"] == 1
    assert samples["mashlink_audit_chain_head_sequence"] == watch.last.head_sequence  # type: ignore[union-attr]


def test_a_failing_source_leaves_its_section_out_and_the_rest_is_still_exposed(hub: HubService) -> None:
    """The broker down during a scrape: queue figures are missing (and say so), database figures are not."""
    from mashlink.hub.metrics import MetricSources, exposition

    hub.submit_referral(referral_data("REF-MET-DOWN", rag="red"), agencies=["police-synth"])

    def broker_down() -> list:  # type: ignore[type-arg]
        raise ConnectionRefusedError("synthetic: broker unreachable")

    text = exposition(MetricSources(hub, queue_stats=broker_down, now=hub.clock())).decode()
    samples = {(s.name, frozenset(s.labels.items())): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    assert value(samples, "mashlink_metrics_section_ok", section="queues") == 0
    assert value(samples, "mashlink_metrics_section_ok", section="relay_lag") == 1
    assert value(samples, "mashlink_enquiries_sent_total", agency="police-synth", rag="red") == 1
    assert value(samples, "mashlink_outbox_unpublished") == 1
    assert not any(name == "mashlink_queue_messages" for name, _ in samples)
    assert value(samples, "mashlink_decisions_overdue") == 0  # the closing-the-loop section is there too
