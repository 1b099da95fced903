"""Shared wiring for the enquiry-loop benchmarks (roundtrip, red_overtakes, deadlines).

Every benchmark builds a throw-away world: settings pointing at a temporary
state directory (SQLite file) and a unique broker namespace, so runs never see
each other's queues and clean up after themselves (``Broker.delete_topology``
for the namespace, the temporary directory removed).

Connectors answer *instantly* with a canned ``not_known`` response
(:class:`InstantConnector`) so the benchmarks measure the runtime, broker and
hub, not a simulated agency system. They still go through the real
:class:`~mashlink.connectors.runtime.ConnectorRunner`: verification, body
validation, signing, confirms and acks are all paid.

Connectors run in a child process (:func:`connector_process`) as they would in
a deployment (``mashlink connector AGENCY`` per agency, usually on the
agency's own machine); the hub runs in the benchmark's process.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..broker.client import Broker
from ..broker.topology import Topology
from ..config.settings import MashlinkSettings, load_settings, with_overrides
from ..connectors.base import response_id_for
from ..schemas.codes import AgencyKind, ResponseStatus
from ..schemas.enquiry import Enquiry, EnquiryResponse

AMQP_URL = os.environ.get("MASHLINK_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
POSTGRES_URL = os.environ.get("MASHLINK_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def quiet_logging() -> None:
    """Warnings and errors only: per-message INFO lines would swamp the output and the timing."""
    from ..config.logging import configure_logging

    configure_logging("WARNING")


def bench_namespace(prefix: str) -> str:
    return f"bench-{prefix}-{uuid.uuid4().hex[:8]}"


def bench_settings(state_dir: Path, *, broker_url: str, namespace: str, database_url: str | None = None,
                   **overrides: Any) -> MashlinkSettings:
    """The packaged default configuration (four synthetic agencies) on a fresh state directory."""
    return load_settings(
        None,
        broker_url=broker_url,
        broker_namespace=namespace,
        state_dir=str(state_dir),
        database_url=database_url or f"sqlite:///{state_dir / 'hub.sqlite'}",
        log_level="WARNING",
        **overrides,
    )


@contextmanager
def temp_state(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"mashlink-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def declared(broker_factory: Callable[[], Broker], agency_ids: list[str]) -> Iterator[None]:
    """Declare the namespace's topology; delete every queue and exchange of it afterwards."""
    broker = broker_factory()
    try:
        broker.declare(agency_ids)
        yield
    finally:
        try:
            broker.delete_topology(agency_ids)
        finally:
            broker.close()


class InstantConnector:
    """Answers every enquiry at once with ``not_known`` (and records when each arrived).

    ``on_enquiry`` (optional) is called with the enquiry and the monotonic
    arrival time before answering; the red-overtakes benchmark uses it.
    """

    #: Like the reference connectors, it answers from memory (see ``AgencyConnector.answers_inline``).
    answers_inline = True

    def __init__(self, agency_id: str, agency_kind: AgencyKind,
                 on_enquiry: Callable[[Enquiry, float], None] | None = None) -> None:
        self.agency_id = agency_id
        self.agency_kind = agency_kind
        self.on_enquiry = on_enquiry

    def handle(self, enquiry: Enquiry) -> list[EnquiryResponse]:
        if self.on_enquiry is not None:
            self.on_enquiry(enquiry, time.monotonic())
        return [
            EnquiryResponse(
                response_id=response_id_for(enquiry.enquiry_id, self.agency_id, 1),
                enquiry_id=enquiry.enquiry_id,
                referral_id=enquiry.referral_id,
                agency_id=self.agency_id,
                agency_kind=self.agency_kind,
                status=ResponseStatus.NOT_KNOWN,
                responder="Benchmark desk",
                responded_at=datetime.now(UTC),
            )
        ]


@dataclass
class ConnectorSpec:
    """What a child process needs to run the instant connectors for every agency."""

    settings_overrides: dict[str, Any]
    namespace: str
    runner_options: dict[str, Any] = field(default_factory=dict)


def _connector_main(spec: ConnectorSpec, ready: Any, stop: Any) -> None:
    """Child process body: one ConnectorRunner per enabled agency until ``stop`` is set."""
    from ..connectors.runtime import ConnectorRunner
    from ..connectors.wiring import connector_broker_factory

    quiet_logging()
    settings = load_settings(None, **spec.settings_overrides)
    topology = Topology(spec.namespace)
    runners = [
        ConnectorRunner(
            InstantConnector(agency.id, agency.kind),
            connector_broker_factory(settings, agency.id, topology=topology),
            # settings.connector_runtime, with this benchmark's options validated over it
            with_overrides(settings.connector_runtime, spec.runner_options, "RunnerSettings"),
        )
        for agency in settings.enabled_agencies()
    ]
    for runner in runners:
        runner.start()
    ready.set()
    try:
        stop.wait()
    finally:
        for runner in runners:
            runner.stop(timeout_s=30)


@contextmanager
def connector_process(spec: ConnectorSpec, *, start_timeout_s: float = 60.0) -> Iterator[int | None]:
    """Run the instant connectors in a child process for the duration of the block; yields its pid."""
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_connector_main, args=(spec, ready, stop), name="bench-connectors", daemon=True)
    proc.start()
    try:
        if not ready.wait(start_timeout_s):
            raise RuntimeError("benchmark connectors did not start")
        yield proc.pid
    finally:
        stop.set()
        proc.join(45)
        if proc.is_alive():
            proc.terminate()
            proc.join(5)


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / (1024 * 1024)


def local_broker_pid() -> int | None:
    """The local RabbitMQ node's process (``beam.smp``), when the broker runs on this machine."""
    import psutil

    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] == "beam.smp":
            return proc.pid
    return None


class CpuMeter:
    """CPU seconds (user + system) used by named processes between ``start`` and ``stop``.

    On a shared 2-core machine the broker, the hub and the connectors compete
    for the same cores, so a rate alone does not say where the time went: CPU
    per unit of work does, and it is what a capacity plan needs.
    """

    def __init__(self, pids: dict[str, int | None]) -> None:
        import psutil

        self._procs = {label: psutil.Process(pid) for label, pid in pids.items() if pid is not None}
        self._start: dict[str, float] = {}
        self.seconds: dict[str, float] = {}

    @staticmethod
    def _cpu(proc: Any) -> float:
        times = proc.cpu_times()
        return float(times.user + times.system)

    def start(self) -> "CpuMeter":
        self._start = {label: self._cpu(proc) for label, proc in self._procs.items()}
        return self

    def stop(self) -> dict[str, float]:
        self.seconds = {label: self._cpu(proc) - self._start[label] for label, proc in self._procs.items()}
        return self.seconds
