"""Enquiry round trips through RabbitMQ and the hub, against a bare kombu client.

``mashlink bench roundtrip`` runs the real loop on RabbitMQ (quorum queues,
publisher confirms, persistent messages, manual acks) with committed hub state
(SQLite by default, ``--postgres`` for PostgreSQL):

referral submitted (``HubService.submit_referral``: validated, minimised, four
enquiries committed to the outbox) -> outbox relay publishes them -> each
agency's ``ConnectorRunner`` consumes, answers (an instant canned
``not_known``), publishes the response with confirms and acks -> the hub's
response consumer commits the response (inbox, audit chain, referral closed
once all four answered) and acks.

Two phases after a warm-up:

1. **Throughput** (``roundtrips_per_s``): a backlog of referrals is submitted
   while the hub runtime is stopped, so every enquiry is committed in the
   outbox before the clock starts; the clock stops when the hub has committed
   every answer (every referral closed). That is exactly the round trip
   "enquiry committed -> published -> consumed by the connector -> response
   published -> consumed and committed by the hub".
2. **Latency** (``p50_ms``, ``p99_ms``): referrals submitted closed-loop with
   a bounded number in flight (submit -> all four answers committed, seen by
   polling the referral's status), so the figures describe a loaded but not
   overrun system. Intake runs in the hub's process here, so this phase's
   rate (``roundtrips_per_s_with_intake``) also pays for validation,
   minimisation and signing of every enquiry.

The connectors run in a child process (as they do in deployment); the hub,
its relay, consumers and deadline tracker run in this process. Set
``MASHLINK_BENCH_POSTGRES=1`` to keep the hub's state in PostgreSQL
(``MASHLINK_BENCH_POSTGRES_URL``, a throw-away schema) instead of SQLite.

Baseline, in the same run: the bare-client cost of the same traffic. A round
trip is two confirmed publishes (enquiry, response) and two acked consumes,
so for N round trips a bare client publishes 2N messages with confirms and
consumes 2N with manual acks (``bench/broker_raw.py``), on one connection,
one step after the other; ``raw_limit_per_s`` = N / (publish seconds +
consume seconds) for the FASTEST bare client: py-amqp keeping up to 1,000
confirms in flight, and the faster of acking each message or acking 100 at a
time with ``multiple``. ``raw_limit_single_confirm_per_s`` is the same work by
kombu's ``confirm_publish`` (one confirm round trip per message), kept for
comparison with earlier runs.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from ._loop import (
    AMQP_URL,
    POSTGRES_URL,
    ConnectorSpec,
    CpuMeter,
    bench_namespace,
    bench_settings,
    connector_process,
    declared,
    local_broker_pid,
    percentile,
    quiet_logging,
    temp_state,
    wait_until,
)
from .broker_raw import (
    bench_target,
    rabbitmq_reachable,
    raw_amqp_consume,
    raw_amqp_publish_windowed,
    raw_kombu_consume,
    raw_kombu_publish_confirmed,
)
from .report import BenchReport, BenchRow
from ..broker.topology import Topology
from ..connectors.simulators.population import generate_population
from ..connectors.simulators.referrals import bulk_referrals
from ..hub.models import OutboxRow, ReferralRow, ReferralStatus
from ..hub.runtime import HubRuntime
from ..hub.service import HubService
from ..hub.wiring import hub_broker_factory

NAME = "roundtrip"
AGENCIES_PER_REFERRAL = 4
#: Messages the one-confirm-at-a-time client publishes and consumes (its time is scaled to 2N).
SINGLE_CONFIRM_SAMPLE = 1200


def _drive(service: HubService, referrals: list[Any], in_flight: int, timeout_s: float) -> dict[str, float]:
    """Submit closed-loop (at most ``in_flight`` open at once); return submit and close times per referral."""
    submitted: dict[str, float] = {}
    closed: dict[str, float] = {}
    open_ids: set[str] = set()
    pending = list(reversed(referrals))
    deadline = time.monotonic() + timeout_s
    while (pending or open_ids) and time.monotonic() < deadline:
        while pending and len(open_ids) < in_flight:
            referral = pending.pop()
            submitted[referral.referral_id] = time.monotonic()
            service.submit_referral(referral, actor="bench")
            open_ids.add(referral.referral_id)
        with service.store.read() as session:  # read-only: the poll takes no write lock
            done = session.execute(
                select(ReferralRow.referral_id).where(
                    ReferralRow.referral_id.in_(list(open_ids)), ReferralRow.status != ReferralStatus.OPEN.value
                )
            ).scalars().all()
        now = time.monotonic()
        for rid in done:
            closed[rid] = now
            open_ids.discard(rid)
        if not done:
            time.sleep(0.002)
    return {"submitted": submitted, "closed": closed}  # type: ignore[dict-item]


def _raw_baseline(bodies: list[bytes], roundtrips: int) -> dict[str, float]:
    """2N confirmed publishes and 2N acked consumes by bare clients, on a fresh quorum queue.

    ``raw_limit_per_s`` is the FASTEST bare client: py-amqp with a window of
    confirms in flight (as ``mashlink.broker.link`` keeps them), then a
    consumer that acks every message, the faster of one ack frame per
    message and one ``multiple`` ack per 100. Both are measured twice and
    the best time of each step is kept. ``raw_limit_single_confirm_per_s``
    is kombu's ``confirm_publish`` (one confirm round trip per message) and a
    kombu consumer with one ack per message: the naive client, for comparison,
    timed on ``SINGLE_CONFIRM_SAMPLE`` messages and scaled to 2N.
    """
    messages = 2 * roundtrips
    wire = [bodies[i % len(bodies)] for i in range(messages)]
    with bench_target(AMQP_URL) as target:
        meter = CpuMeter({"client": os.getpid(), "rabbitmq": local_broker_pid()}).start()
        publish_1 = raw_amqp_publish_windowed(AMQP_URL, target.exchange, target.routing_key, wire)
        consume_each = raw_amqp_consume(AMQP_URL, target.queue, messages, ack_every=1)
        cpu = meter.stop()
        publish_2 = raw_amqp_publish_windowed(AMQP_URL, target.exchange, target.routing_key, wire)
        consume_multiple = raw_amqp_consume(AMQP_URL, target.queue, messages, ack_every=100)
        # One confirm round trip per message costs the same for every message, so the naive client
        # runs on a sample and its time is scaled to 2N (the full run took ~10-20 s on its own).
        sample = wire[:SINGLE_CONFIRM_SAMPLE]
        scale = messages / len(sample)
        single_publish_s = scale * raw_kombu_publish_confirmed(AMQP_URL, target.exchange, target.routing_key, sample)
        single_consume_s = scale * raw_kombu_consume(AMQP_URL, target.queue, len(sample))
    publish_s = min(publish_1, publish_2)
    consume_s = min(consume_each, consume_multiple)
    total = publish_s + consume_s
    single_total = single_publish_s + single_consume_s
    return {
        "publish_s": publish_s,
        "consume_s": consume_s,
        "consume_each_ack_s": consume_each,
        "consume_multiple_ack_s": consume_multiple,
        "raw_limit_per_s": roundtrips / total if total > 0 else float("inf"),
        "single_publish_s": single_publish_s,
        "single_consume_s": single_consume_s,
        "raw_limit_single_confirm_per_s": roundtrips / single_total if single_total > 0 else float("inf"),
        "cpu_s": cpu,
    }


class ThreadCpu:
    """CPU seconds per thread of this process, by thread name, between ``start`` and ``stop``.

    Why: the hub's process total does not say which of its loops (responses
    consumer, outbox relay, events, deadlines, the benchmark's own polling in
    the main thread) spent it, and that is what a change to one of them must
    be judged on. Threads that start after ``start`` count from zero; names
    of threads that share one (a restarted loop) are summed.
    """

    def __init__(self) -> None:
        self._start: dict[int, float] = {}

    @staticmethod
    def _times() -> dict[int, float]:
        import psutil

        return {t.id: t.user_time + t.system_time for t in psutil.Process().threads()}

    def start(self) -> "ThreadCpu":
        self._start = self._times()
        return self

    def stop(self) -> dict[str, float]:
        names = {t.native_id: t.name for t in threading.enumerate()}
        spent: dict[str, float] = {}
        for tid, cpu in self._times().items():
            name = names.get(tid, "other")
            spent[name] = spent.get(name, 0.0) + cpu - self._start.get(tid, 0.0)
        return spent


def _open_count(service: HubService) -> int:
    """Open referrals, counted on the status index: cheap enough to poll without slowing the hub.

    (Polling "how many of these 600 ids are closed" every 20 ms cost the hub's
    process a fifth of its CPU, which the benchmark then charged to the hub.)
    """
    with service.store.read() as session:
        return session.execute(
            select(func.count()).select_from(ReferralRow).where(ReferralRow.status == ReferralStatus.OPEN.value)
        ).scalar_one()


def _closed_count(service: HubService, ids: list[str]) -> int:
    with service.store.read() as session:
        return session.execute(
            select(func.count()).select_from(ReferralRow).where(
                ReferralRow.referral_id.in_(ids), ReferralRow.status != ReferralStatus.OPEN.value)
        ).scalar_one()


def run(quick: bool, *, postgres: bool | None = None, backlog: int | None = None, latency_referrals: int | None = None,
        in_flight: int = 16) -> BenchReport:
    if postgres is None:
        postgres = os.environ.get("MASHLINK_BENCH_POSTGRES", "") not in ("", "0")
    backlog = backlog or (100 if quick else 600)
    latency_referrals = latency_referrals or (40 if quick else 200)
    if not rabbitmq_reachable(AMQP_URL):
        return BenchReport(name=NAME, description="RabbitMQ unreachable: nothing measured",
                           metrics={"rabbitmq": "unreachable"})
    quiet_logging()
    namespace = bench_namespace("rt")
    topology = Topology(namespace)
    with temp_state("roundtrip") as state:
        schema = None
        database_url = POSTGRES_URL if postgres else f"sqlite:///{state / 'hub.sqlite'}"
        if postgres:
            schema = f"bench_{namespace.rsplit('-', 1)[-1]}"
        settings = bench_settings(state, broker_url=AMQP_URL, namespace=namespace, database_url=database_url)
        overrides: dict[str, Any] = {"broker_url": AMQP_URL, "broker_namespace": namespace,
                                     "state_dir": str(state), "log_level": "WARNING", "database_url": database_url}
        service = HubService.open(settings, topology=topology, schema=schema)
        hub_factory = hub_broker_factory(settings, topology)
        agency_ids = [a.id for a in settings.agencies]
        population = generate_population(20240901)
        everything = bulk_referrals(population, 10 + backlog + latency_referrals, datetime.now(UTC))
        warm, queued, timed = everything[:10], everything[10:10 + backlog], everything[10 + backlog:]
        try:
            with declared(hub_factory, agency_ids):
                # The hourly audit self-check verifies the whole chain at start; it is not part of a round
                # trip, so it is off here (in service it runs once an hour, on new events only).
                runtime = HubRuntime(service, hub_factory, audit_check_interval_s=0)
                with connector_process(ConnectorSpec(settings_overrides=overrides, namespace=namespace)) as pid:
                    runtime.start(declare=False)
                    try:
                        _drive(service, warm, in_flight, timeout_s=60)  # connections, caches, JIT-free warm-up
                    finally:
                        runtime.stop()
                    # Phase 1, throughput: the enquiries are committed (outbox) before the clock starts;
                    # it stops when the hub has committed every answer.
                    for referral in queued:
                        service.submit_referral(referral, actor="bench")
                    ids = [r.referral_id for r in queued]
                    open_before = _open_count(service) - len(ids)
                    runtime = HubRuntime(service, hub_factory, audit_check_interval_s=0)
                    meter = CpuMeter({"hub": os.getpid(), "connectors": pid, "rabbitmq": local_broker_pid()})
                    meter.start()
                    threads = ThreadCpu().start()
                    started = time.monotonic()
                    runtime.start(declare=False)
                    try:
                        # Every open referral is one of the backlog (the warm-up ones closed before).
                        wait_until(lambda: _open_count(service) <= open_before, timeout_s=300, interval_s=0.02)
                        elapsed = time.monotonic() - started
                        loop_cpu = meter.stop()
                        thread_cpu = threads.stop()
                        completed = _closed_count(service, ids)
                        # Phase 2, latency: submitted closed-loop with a bounded number in flight.
                        lat_started = time.monotonic()
                        times = _drive(service, timed, in_flight, timeout_s=240)
                        lat_elapsed = time.monotonic() - lat_started
                    finally:
                        runtime.stop()
                with service.factory() as session:
                    bodies = [bytes(p) for p in session.execute(
                        select(OutboxRow.payload).where(OutboxRow.message_type == "enquiry").limit(400)
                    ).scalars()]
                errors = list(runtime.errors)
            roundtrips = completed * AGENCIES_PER_REFERRAL
            rate = roundtrips / elapsed if elapsed > 0 else 0.0
            latencies = [(times["closed"][rid] - times["submitted"][rid]) * 1000 for rid in times["closed"]]
            intake_rate = len(times["closed"]) * AGENCIES_PER_REFERRAL / lat_elapsed if lat_elapsed > 0 else 0.0
            raw = _raw_baseline(bodies, backlog * AGENCIES_PER_REFERRAL)
        finally:
            service.close()
            if schema is not None:
                from ..hub.db import drop_schema

                drop_schema(service.engine, schema)

    ratio = rate / raw["raw_limit_per_s"] if raw["raw_limit_per_s"] else 0.0
    single = raw["raw_limit_single_confirm_per_s"]
    metrics: dict[str, Any] = {
        "roundtrips_per_s": round(rate, 1),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "raw_limit_per_s": round(raw["raw_limit_per_s"], 1),
        "ratio": round(ratio, 3),
        "roundtrips": roundtrips,
        "seconds": round(elapsed, 2),
        "backlog_referrals": backlog,
        "referrals_completed": completed,
        "latency_referrals": len(latencies),
        "in_flight_referrals": in_flight,
        "roundtrips_per_s_with_intake": round(intake_rate, 1),
        "database": "postgresql" if postgres else "sqlite",
        "raw_publish_s": round(raw["publish_s"], 2),
        "raw_consume_s": round(raw["consume_s"], 2),
        "raw_consume_each_ack_s": round(raw["consume_each_ack_s"], 2),
        "raw_consume_multiple_ack_s": round(raw["consume_multiple_ack_s"], 2),
        "raw_limit_single_confirm_per_s": round(single, 1),
        "ratio_single_confirm": round(rate / single, 3) if single else 0.0,
        "raw_single_publish_s": round(raw["single_publish_s"], 2),
        "raw_single_consume_s": round(raw["single_consume_s"], 2),
    }
    # Where the CPU went, per round trip: the loop's processes in phase 1 and the bare client's
    # (its first publish + each-ack consume pass). The broker shares these two cores.
    per_rt = {f"cpu_us_per_rt_{k}": round(v * 1e6 / roundtrips, 1) for k, v in loop_cpu.items()} if roundtrips else {}
    raw_rt = backlog * AGENCIES_PER_REFERRAL
    per_rt.update({f"raw_cpu_us_per_rt_{k}": round(v * 1e6 / raw_rt, 1) for k, v in raw["cpu_s"].items()})
    metrics.update(per_rt)
    if roundtrips:
        metrics.update({f"cpu_us_per_rt_hub_thread_{name}": round(v * 1e6 / roundtrips, 1)
                        for name, v in sorted(thread_cpu.items()) if v > 0})
    if errors:
        metrics["runtime_errors"] = len(errors)
    rows = [
        BenchRow(label="mashlink enquiry round trips", value=rate, unit="round trips/s",
                 note=f"{roundtrips} committed enquiries answered in {elapsed:.1f}s, {metrics['database']}"),
        BenchRow(label="referral completion p50", value=metrics["p50_ms"], unit="ms",
                 note=f"submit -> all four answers committed; {in_flight} referrals in flight"),
        BenchRow(label="referral completion p99", value=metrics["p99_ms"], unit="ms"),
        BenchRow(label="round trips with intake in the same process", value=intake_rate, unit="round trips/s",
                 note="closed-loop submit_referral + loop, the latency phase"),
        BenchRow(label="bare py-amqp, confirm window: 2 publishes + 2 acked consumes", value=raw["raw_limit_per_s"],
                 unit="round trips/s", note=f"publish {raw['publish_s']:.2f}s + consume {raw['consume_s']:.2f}s "
                 f"(each-ack {raw['consume_each_ack_s']:.2f}s, multiple-ack {raw['consume_multiple_ack_s']:.2f}s)"),
        BenchRow(label="ratio mashlink / fastest bare client", value=ratio, unit="x"),
        BenchRow(label="bare kombu, one confirm at a time (naive client)", value=single, unit="round trips/s",
                 note=f"publish {raw['single_publish_s']:.1f}s + consume {raw['single_consume_s']:.1f}s"),
        BenchRow(label="ratio mashlink / naive client", value=metrics["ratio_single_confirm"], unit="x"),
        *[BenchRow(label=f"CPU per round trip: {k.removeprefix('cpu_us_per_rt_')} (loop)", value=v, unit="us")
          for k, v in per_rt.items() if k.startswith("cpu_")],
        *[BenchRow(label=f"CPU per round trip: {k.removeprefix('raw_cpu_us_per_rt_')} (bare client run)", value=v,
                   unit="us") for k, v in per_rt.items() if k.startswith("raw_cpu_")],
    ]
    return BenchReport(
        name=NAME,
        description="referrals with four-agency fan-out over RabbitMQ quorum queues, committed hub state",
        rows=rows,
        metrics=metrics,
        targets={"ratio": ">= 0.4", "roundtrips_per_s": ">= 500 on a 2-core machine"},
    )
