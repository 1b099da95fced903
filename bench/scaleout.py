"""Round trips per second with 1, 2 and 3 hub processes on one PostgreSQL schema and one RabbitMQ namespace.

``mashlink bench scaleout`` runs, for each hub count, a fresh PostgreSQL
schema and broker namespace:

1. a backlog of referrals is submitted from this process (four enquiries
   each, committed in the outbox; no hub is running yet);
2. N ``mashlink hub`` processes start on the same schema (selected by the
   URL's ``options=-csearch_path=...``) and namespace, on their own ports and
   state directories with one shared audit key; every relay, response
   consumer, deadline tracker and audit self-check runs in each. The
   benchmark waits until every hub answers ``/health/ready`` and the outbox is
   empty (the relays of all hubs shared the backlog);
3. the instant connectors (``bench/_loop.py``: one child process, a runner
   per agency, canned ``not_known`` answers) start, and the clock runs until
   the hubs have committed every answer.

Three hubs starting at once on two cores take about 15 s to be ready (CPU
for imports), so start-up is kept out of the measurement: the connectors'
consume, answer and confirmed publish, and the hubs' batched response
commits (inbox, audit chain under its head lock, closure) are measured;
the relays' share of the backlog is checked (duplicates) but not timed.
``roundtrips_per_s`` is the answers committed divided by the time between the
first and the last commit (``responses.received_at``, the database's clock);
the wall time from the connectors' start to the last answer seen is reported
too.

``publish_duplicates`` counts the enquiries the broker routed more than once
(a tap queue bound to every enquiry routing key receives one copy of each
publish) and must be 0: live hubs never publish the same outbox row twice.
The 1-hub run is the baseline of the ratio column. On a 2-core machine the
hubs, the connectors, PostgreSQL and RabbitMQ share the cores, so more hubs
mostly measures the cost of coordination, not added capacity.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.request import urlopen

from sqlalchemy import func, select

from ._loop import (
    AMQP_URL,
    POSTGRES_URL,
    ConnectorSpec,
    bench_settings,
    connector_process,
    declared,
    quiet_logging,
    temp_state,
    wait_until,
)
from .report import BenchReport, BenchRow
from ..broker.topology import Topology
from ..connectors.simulators.population import generate_population
from ..connectors.simulators.referrals import bulk_referrals
from ..hub.db import drop_schema, make_engine
from ..hub.migrate import migrate_engine
from ..hub.models import EnquiryRow, OutboxRow, ResponseRow
from ..hub.service import HubService, utcnow
from ..hub.wiring import hub_broker_factory
from ..schemas.codes import Rag

NAME = "scaleout"
AGENCIES = ["police-synth", "health-synth", "education-synth", "social-care-synth"]
_AUDIT_KEY = "bench-scaleout-audit-key-0a1b2c3d4eabcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hub_ready(port: int) -> bool:
    """Whether the hub on ``port`` answers ``/health/ready``."""
    try:
        with urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _pending(service: HubService) -> int:
    with service.factory() as session:
        return int(session.execute(select(func.count()).select_from(OutboxRow)
                                   .where(OutboxRow.published_at.is_(None))).scalar_one())


def spawn_hub(port: int, *, amqp_url: str, namespace: str, database_url: str, state_dir: Path,
              audit_key: str, tick_s: float = 1.0, extra_env: dict[str, str] | None = None,
              stderr: Any = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    """A ``mashlink hub`` process; hubs sharing a database need one ``audit_key`` for their chain to verify."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASHLINK_")}
    env.update({"MASHLINK_BROKER_URL": amqp_url, "MASHLINK_BROKER_NAMESPACE": namespace,
                "MASHLINK_DATABASE_URL": database_url, "MASHLINK_STATE_DIR": str(state_dir),
                "MASHLINK_SECURITY__AUDIT_KEY": audit_key, "MASHLINK_LOG_LEVEL": "WARNING", **(extra_env or {})})
    return subprocess.Popen(
        [sys.executable, "-m", "mashlink.ops.cli", "hub", "--host", "127.0.0.1", "--port", str(port),
         "--tick", str(tick_s)], env=env, stdout=subprocess.DEVNULL, stderr=stderr)


def schema_url(database_url: str, schema: str) -> str:
    """A PostgreSQL URL whose connections use ``schema`` (libpq ``options``): how a process picks one."""
    return f"{database_url}?options=-csearch_path%3D{schema}"


class EnquiryTap:
    """A queue bound to every enquiry routing key: the broker routes one copy of each enquiry publish to it."""

    def __init__(self, amqp_url: str, topology: Topology) -> None:
        from kombu import Connection

        self.connection = Connection(amqp_url)
        self.channel = self.connection.channel()
        self.name = f"{topology.namespace}.enquiry-tap"
        self.channel.queue_declare(self.name, durable=False, auto_delete=False)
        for agency in AGENCIES:
            for rag in Rag:
                self.channel.queue_bind(self.name, topology.enquiries_exchange, f"{agency}.{rag.value}")

    def counts(self) -> Counter[str]:
        """Copies per message id received since the last call (the queue is emptied)."""
        seen: Counter[str] = Counter()
        while (message := self.channel.basic_get(self.name, no_ack=True)) is not None:
            seen[json.loads(message.body)["message_id"]] += 1
        return seen

    def close(self) -> None:
        try:
            self.channel.queue_delete(self.name)
        finally:
            self.connection.close()


def _run(hubs: int, referrals: int, timeout_s: float) -> dict[str, Any]:
    namespace = f"bench-scale-{uuid.uuid4().hex[:8]}"
    schema = f"bench_scale_{uuid.uuid4().hex[:8]}"
    topology = Topology(namespace)
    engine = make_engine(POSTGRES_URL, schema=schema)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        migrate_engine(engine)
        with temp_state("scaleout") as state:
            settings = bench_settings(state / "bench", broker_url=AMQP_URL, namespace=namespace,
                                      database_url=POSTGRES_URL, security={"audit_key": _AUDIT_KEY})
            service = HubService(settings, engine, topology=topology)
            with declared(hub_broker_factory(settings, topology), AGENCIES):
                tap = EnquiryTap(AMQP_URL, topology)
                try:
                    population = generate_population(20240901)
                    for referral in bulk_referrals(population, referrals, utcnow()):
                        service.submit_referral(referral)
                    expected = 4 * referrals
                    ports = [free_port() for _ in range(hubs)]
                    processes.extend(
                        spawn_hub(port, amqp_url=AMQP_URL, namespace=namespace,
                                  database_url=schema_url(POSTGRES_URL, schema), state_dir=state / f"hub{i}",
                                  audit_key=_AUDIT_KEY)
                        for i, port in enumerate(ports))
                    # Every hub up and every enquiry relayed before the connectors start: start-up
                    # (imports, migrations check, topology declare) is not part of the measurement.
                    if not wait_until(lambda: all(hub_ready(p) for p in ports), 90, interval_s=0.2):
                        raise RuntimeError("the hubs did not become ready")
                    if not wait_until(lambda: _pending(service) == 0, 60, interval_s=0.05):
                        raise RuntimeError("the outbox was not relayed")
                    overrides = {"broker_url": AMQP_URL, "broker_namespace": namespace,
                                 "state_dir": str(state / "connectors"), "log_level": "WARNING"}
                    with connector_process(ConnectorSpec(settings_overrides=overrides, namespace=namespace)):
                        started = time.monotonic()

                        def answered() -> bool:
                            with service.factory() as session:
                                return session.execute(select(func.count()).select_from(EnquiryRow).where(
                                    EnquiryRow.status == "answered")).scalar_one() >= expected

                        done = wait_until(answered, timeout_s, interval_s=0.05)
                        wall_s = time.monotonic() - started
                    with service.factory() as session:
                        count, first, last = session.execute(select(
                            func.count(), func.min(ResponseRow.received_at), func.max(ResponseRow.received_at)
                        )).one()
                    time.sleep(0.5)  # let any late copy reach the tap
                    copies = tap.counts()
                finally:
                    tap.close()
                    for process in processes:
                        process.terminate()
                    for process in processes:
                        try:
                            process.wait(timeout=15)
                        except subprocess.TimeoutExpired:
                            process.kill()
                            process.wait(timeout=5)
        span_s = max((last - first).total_seconds(), 1e-6) if first and last else float("nan")
        return {
            "hubs": hubs, "complete": bool(done), "responses": int(count),
            "roundtrips_per_s": count / span_s, "wall_s": wall_s,
            "published": len(copies), "publish_duplicates": sum(n - 1 for n in copies.values()),
        }
    finally:
        drop_schema(engine, schema)
        engine.dispose()


def run(quick: bool = False) -> BenchReport:
    quiet_logging()
    referrals = 150 if quick else 500
    timeout_s = 120.0 if quick else 300.0
    results = [_run(n, referrals, timeout_s) for n in (1, 2, 3)]
    baseline = results[0]["roundtrips_per_s"] or float("nan")
    rows: list[BenchRow] = []
    metrics: dict[str, Any] = {"referrals": referrals, "round_trips": 4 * referrals}
    for r in results:
        n = r["hubs"]
        ratio = r["roundtrips_per_s"] / baseline
        note = "baseline" if n == 1 else f"{ratio:.2f}x the 1-hub run"
        if not r["complete"]:
            note += f"; INCOMPLETE ({r['responses']} of {4 * referrals} answered)"
        rows.append(BenchRow(label=f"{n} hub(s): round trips", value=r["roundtrips_per_s"], unit="/s", note=note))
        rows.append(BenchRow(label=f"{n} hub(s): wall, connectors ready to last answer", value=r["wall_s"], unit="s",
                             note="from the connectors being ready"))
        rows.append(BenchRow(label=f"{n} hub(s): publish duplicates", value=r["publish_duplicates"], unit="msgs",
                             note=f"of {r['published']} enquiries routed; must be 0"))
        metrics[f"hubs_{n}"] = {k: v for k, v in r.items() if k != "hubs"}
    metrics["publish_duplicates"] = sum(r["publish_duplicates"] for r in results)
    return BenchReport(
        name=NAME,
        description=f"{4 * referrals} enquiry round trips by 1, 2, 3 hub processes on one PostgreSQL schema",
        rows=rows, metrics=metrics, targets={"publish_duplicates": "0"},
    )
