"""Deadline tracking with a million open enquiries: memory and due-time -> escalation lag.

``mashlink bench deadlines`` bulk-inserts open enquiries into a fresh hub
database (SQLite file; SQLAlchemy Core ``INSERT`` of the same columns and
value types the hub writes, bodies included), four per referral across the
four synthetic agencies, with deadlines days away. It then adds a batch of
enquiries whose deadlines fall a few seconds into the run (their at-risk
warning already raised, as it would have been), starts the hub runtime
(deadline tracker at its normal 5 s interval, outbox relay) on the embedded
broker and consumes the escalation events from the agencies' event queues.

* ``overdue_lag_ms``: the worst delay from an enquiry's due time to its
  overdue escalation event arriving on the broker (committed with the state
  change and the audit event, then published by the outbox relay);
  ``overdue_lag_p50_ms`` the median.
* ``rss_mb``: resident memory of this process while tracking (psutil).
  Deadlines live in an indexed column, not in memory, so it does not grow
  with the number of enquiries; ``peak_rss_mb`` includes the insert phase.

Baseline, in the same run: the lag the old fixed-interval polling would give
(due time to the next 5 s tick) is reported for comparison as
``fixed_tick_expected_lag_ms`` (half the interval on average, the whole
interval at worst), and ``insert_rows_per_s`` shows the setup cost.
"""

from __future__ import annotations

import json
import random
import resource
import threading
import time
from types import SimpleNamespace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Column, MetaData, Table, Text, func, insert, select

from ._loop import (
    bench_namespace,
    bench_settings,
    percentile,
    quiet_logging,
    rss_mb,
    temp_state,
)
from .report import BenchReport, BenchRow
from ..broker.messages import Delivery, HandlerResult
from ..broker.topology import Topology
from ..hub.lifecycle import schedule_escalation
from ..hub.models import UTCDateTime, EnquiryRow, EnquiryStatus, EscalationRow, ReferralRow, ReferralStatus
from ..hub.runtime import HubRuntime
from ..hub.service import HubService
from ..hub.wiring import hub_broker_factory
from ..schemas.codes import Rag
from ..schemas.envelope import MessageType

NAME = "deadlines"
TICK_INTERVAL_S = 5.0  # HubRuntime's normal tick
CHUNK = 20_000


def _subject() -> Any:
    """A synthetic child from the simulator's population, as a referral names them."""
    from ..connectors.simulators.population import generate_population
    from ..connectors.simulators.referrals import bulk_referrals

    return bulk_referrals(generate_population(20240901), 1, datetime.now(UTC))[0].subjects[0]


def _body_template() -> str:
    """A minimised enquiry body of realistic size (synthetic person), as the JSON the hub stores.

    Serialised once with placeholders and filled per row by string
    replacement: ``json.dumps`` of a million bodies would dominate the setup.
    """
    return json.dumps({
        "enquiry_id": "@E", "referral_id": "@R", "agency_id": "@A", "agency_kind": "@K",
        "subjects": [_subject().model_dump(mode="json")],
        "relationships": [], "concerns": ["neglect"],
        "questions": ["What do you know about these people that is relevant to the safeguarding concern?"],
        "rag": "@G", "requested_at": "@Q", "due_at": "@D",
        "lawful_basis": ["children_act_1989_s17", "children_act_2004_s10"], "consent_note": "not_sought",
        "requester": "Synthshire County Council MASH", "classification": "official_sensitive",
    })




def _enquiry_body(template: str, enquiry_id: str, referral_id: str, agency_id: str, kind: str, rag: str,
                  requested_at: datetime, due_at: datetime) -> str:
    return (template.replace("@E", enquiry_id).replace("@R", referral_id).replace("@A", agency_id)
            .replace("@K", kind).replace("@G", rag).replace("@Q", requested_at.isoformat())
            .replace("@D", due_at.isoformat()))


def _bulk_table(model_table: Table) -> Table:
    """The hub's table, its values given as the exact text SQLite stores (JSON text, UTC datetimes).

    The typed bind processors cost ~40 us a row in Python; the stored bytes
    are the same (``_stored_time`` is SQLAlchemy's SQLite DATETIME format of
    the UTC time, which is what ``UTCDateTime`` binds), and the run reads
    every due row back through the ORM, which would fail on a mismatch.
    """
    return Table(model_table.name, MetaData(),
                 *(Column(c.name, Text() if c.name == "body" or isinstance(c.type, UTCDateTime) else c.type)
                   for c in model_table.columns))


def _stored_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


_ENQUIRIES = _bulk_table(EnquiryRow.__table__)  # type: ignore[arg-type]
_REFERRALS = _bulk_table(ReferralRow.__table__)  # type: ignore[arg-type]


def _rows(agencies: list[tuple[str, str]], start: int, count: int, now: datetime, *, due_soon: list[datetime] | None,
          template: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Referral and enquiry rows for referrals ``start .. start+count`` (four enquiries each)."""
    referrals, enquiries = [], []
    for i in range(start, start + count):
        referral_id = f"bench-ref-{i:08d}"
        rag = (Rag.RED, Rag.AMBER, Rag.GREEN, Rag.GREEN)[i % 4].value
        requested_at = now - timedelta(minutes=1 + (i * 37) % 600)
        referrals.append({
            "referral_id": referral_id, "received_at": _stored_time(requested_at), "submitted_at": _stored_time(requested_at),
            "local_authority": "999", "rag": rag, "status": ReferralStatus.OPEN.value, "closed_at": None,
            "closed_reason": None, "submitted_by": "bench", "body": json.dumps({"referral_id": referral_id, "synthetic": True}),
        })
        for j, (agency_id, kind) in enumerate(agencies):
            enquiry_id = f"bench-enq-{i:08d}-{j}"
            if due_soon is not None:
                due_at = due_soon[(i - start) * len(agencies) + j]
                at_risk_at = due_at - timedelta(hours=1)
                at_risk_raised = at_risk_at  # the warning went out an hour ago
            else:
                due_at = now + timedelta(days=1, seconds=(i * 7919 + j * 104729) % (29 * 86400))
                at_risk_at = due_at - timedelta(hours=8)
                at_risk_raised = None
            # A plain object (not an ORM instance, which costs ~20 us each): schedule_escalation only sets
            # attributes, and the hub's own rule then decides next_escalation_at / level.
            row = SimpleNamespace(status=EnquiryStatus.OPEN.value, due_at=due_at, at_risk_at=at_risk_at,
                                  at_risk_raised_at=at_risk_raised, overdue_raised_at=None)
            schedule_escalation(row)  # type: ignore[arg-type]
            enquiries.append({
                "enquiry_id": enquiry_id, "referral_id": referral_id, "agency_id": agency_id, "agency_kind": kind,
                "rag": rag, "status": row.status, "requested_at": _stored_time(requested_at),
                "due_at": _stored_time(due_at), "at_risk_at": _stored_time(at_risk_at),
                "next_escalation_at": _stored_time(row.next_escalation_at),
                "next_escalation_level": row.next_escalation_level, "at_risk_raised_at": _stored_time(at_risk_raised),
                "overdue_raised_at": None, "last_response_status": None, "last_sequence": 0, "answered_at": None,
                "message_id": f"bench-msg-{i:08d}-{j}",
                "body": _enquiry_body(template, enquiry_id, referral_id, agency_id, kind, rag, requested_at, due_at),
            })
    return referrals, enquiries


def _insert(service: HubService, referrals: list[dict[str, Any]], enquiries: list[dict[str, Any]]) -> None:
    with service.engine.begin() as conn:
        conn.execute(insert(_REFERRALS), referrals)
        conn.execute(insert(_ENQUIRIES), enquiries)


def run(quick: bool, *, total: int | None = None, due_batch: int | None = None) -> BenchReport:
    total = total or (100_000 if quick else 1_000_000)
    due_batch = due_batch or (200 if quick else 1000)
    quiet_logging()
    rng = random.Random(20240901)
    namespace = bench_namespace("dl")
    topology = Topology(namespace)
    with temp_state("deadlines") as state:
        settings = bench_settings(state, broker_url="memory://", namespace=namespace)
        agencies = [(a.id, a.kind.value) for a in settings.enabled_agencies()]
        per_referral = len(agencies)
        service = HubService.open(settings, topology=topology)
        try:
            now = datetime.now(UTC)
            template = _body_template()
            bulk_referrals = (total - due_batch) // per_referral
            insert_started = time.monotonic()
            for start in range(0, bulk_referrals, CHUNK // per_referral):
                n = min(CHUNK // per_referral, bulk_referrals - start)
                _insert(service, *_rows(agencies, start, n, now, due_soon=None, template=template))
            insert_s = time.monotonic() - insert_started
            # The batch that falls due during the run, spread over a few seconds.
            soon_referrals = due_batch // per_referral
            base = datetime.now(UTC) + timedelta(seconds=3)
            due_times = sorted(base + timedelta(seconds=rng.uniform(0, 4)) for _ in range(soon_referrals * per_referral))
            rng.shuffle(due_times)
            _insert(service, *_rows(agencies, bulk_referrals, soon_referrals, now, due_soon=due_times, template=template))
            with service.factory() as session:
                tracked = session.execute(
                    select(func.count()).select_from(EnquiryRow).where(EnquiryRow.next_escalation_at.is_not(None))
                ).scalar_one()

            arrivals: list[float] = []
            lock = threading.Lock()

            def on_events(deliveries: list[Delivery]) -> list[HandlerResult]:
                arrived = datetime.now(UTC)
                with lock:
                    for d in deliveries:
                        env = d.envelope
                        if env.message_type is MessageType.ESCALATION and env.body.get("level") == "overdue":
                            due = datetime.fromisoformat(env.body["due_at"])
                            arrivals.append((arrived - due).total_seconds() * 1000)
                return [HandlerResult.ack() for _ in deliveries]

            hub_factory = hub_broker_factory(settings, topology)
            runtime = HubRuntime(service, hub_factory, tick_interval_s=TICK_INTERVAL_S,
                                 audit_check_interval_s=0)  # the hourly audit self-check is not measured here
            runtime.declare()
            stop = threading.Event()
            listener = hub_factory()
            consumer = listener.consumer([topology.agency_events_queue(a) for a, _ in agencies], on_events,
                                         max_batch=200, max_wait_s=0.005, name="bench-escalations")
            listen = threading.Thread(target=consumer.run, args=(stop,), name="bench-listener", daemon=True)
            listen.start()
            expected = soon_referrals * per_referral
            rss_samples: list[float] = []
            runtime.start(declare=False)
            try:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    rss_samples.append(rss_mb())
                    with lock:
                        if len(arrivals) >= expected:
                            break
                    time.sleep(0.1)
                rss_samples.append(rss_mb())
            finally:
                runtime.stop()
                stop.set()
                listen.join(10)
                listener.close()
            with service.factory() as session:
                escalations = session.execute(select(func.count()).select_from(EscalationRow)).scalar_one()
        finally:
            service.close()

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worst = max(arrivals) if arrivals else float("nan")
    metrics: dict[str, Any] = {
        "rss_mb": round(max(rss_samples), 1),
        "overdue_lag_ms": round(worst, 1),
        "overdue_lag_p50_ms": round(percentile(arrivals, 50), 1),
        "overdue_lag_p99_ms": round(percentile(arrivals, 99), 1),
        "open_enquiries": tracked,
        "escalations_expected": expected,
        "escalations_received": len(arrivals),
        "escalations_committed": escalations,
        "tick_interval_s": TICK_INTERVAL_S,
        "fixed_tick_expected_lag_ms": TICK_INTERVAL_S * 1000 / 2,
        "fixed_tick_worst_lag_ms": TICK_INTERVAL_S * 1000,
        "peak_rss_mb": round(peak, 1),
        "insert_rows_per_s": round((bulk_referrals * (per_referral + 1)) / insert_s, 1) if insert_s else 0,
        "insert_s": round(insert_s, 1),
    }
    rows = [
        BenchRow(label="open enquiries tracked", value=tracked, unit="enquiries"),
        BenchRow(label="RSS while tracking", value=metrics["rss_mb"], unit="MB",
                 note=f"peak {metrics['peak_rss_mb']} MB including the bulk insert"),
        BenchRow(label="due -> overdue escalation event, worst", value=metrics["overdue_lag_ms"], unit="ms",
                 note=f"p50 {metrics['overdue_lag_p50_ms']} ms over {len(arrivals)} escalations"),
        BenchRow(label="baseline: fixed 5 s tick, expected lag", value=metrics["fixed_tick_expected_lag_ms"],
                 unit="ms", note=f"worst {metrics['fixed_tick_worst_lag_ms']:.0f} ms"),
        BenchRow(label="bulk insert (setup)", value=metrics["insert_rows_per_s"], unit="rows/s",
                 note=f"{metrics['insert_s']} s"),
    ]
    return BenchReport(
        name=NAME,
        description=f"{tracked:,} open enquiries in SQLite, deadline tracker at its normal {TICK_INTERVAL_S:.0f} s interval",
        rows=rows,
        metrics=metrics,
        targets={"rss_mb": "< 1000", "overdue_lag_ms": "< 1000"},
    )
