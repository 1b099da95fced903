"""Every connector kind, built as ``mashlink connector`` builds it, consumes its events queue.

Four agencies configured with real connectors (pole, ctf, cin, fhir) and
``options.events`` (or its default); each is built by the connector factory
and its background services started; one decision on a real hub tells all
four. The outcome reaches each agency's own tool (a police file, the
school system's web hook, a social care file in the default folder, a FHIR
Communication) and each agency's receipt comes back.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from mashlink.broker.topology import Topology
from mashlink.connectors.events.fhir_channel import EVENT_SYSTEM
from mashlink.connectors.health.fhir_simulator import FhirStore, ThreadedFhirSimulator
from mashlink.connectors.police.export import write_json
from mashlink.connectors.simulators.police_export import simulated_force_export
from mashlink.connectors.simulators.population import generate_population
from tests.e2e.loop import Loop
from tests.events.support import ReceiptTap, wait_for
from tests.hub.hub_support import referral_data
from tests.referrer.support import Hook, webhook_server
from tests.wiring.helpers import build, settings_for, write_config

KEY_ENV = "MASHLINK_TEST_EDU_EVENTS_KEY"
FAST = {"max_attempts": 3, "retry_backoff_s": 0.05, "retry_backoff_max_s": 0.2, "ack_scan_interval_s": 0.1}


def test_each_connector_kind_receives_the_outcome_in_its_own_tool(tmp_path: Path, broker_url: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "education-events-hook-key-01234x56789")
    state = tmp_path / "state"
    exports = state / "police" / "exports"
    exports.mkdir(parents=True)
    write_json(simulated_force_export(generate_population(4242)), exports / "force.json")
    hook = Hook()
    with webhook_server(hook) as url, ThreadedFhirSimulator(FhirStore()) as sim:
        config = write_config(tmp_path / "c.yaml", [
            {"id": "police-synth", "kind": "police", "connector": "pole",
             "options": {"exports": ["police/exports"], "events": {"channel": "drop_folder",
                                                                   "path": "police/events", **FAST}}},
            {"id": "education-synth", "kind": "education", "connector": "ctf",
             "options": {"events": {"channel": "webhook", "url": url, "key_env": KEY_ENV, **FAST}}},
            {"id": "social-care-synth", "kind": "social_care", "connector": "cin", "options": {}},
            {"id": "health-synth", "kind": "health", "connector": "fhir",
             "options": {"base_url": sim.base_url, "events": {"channel": "fhir", **FAST}}},
        ])
        namespace = f"ev{uuid.uuid4().hex[:10]}"
        settings = settings_for(config, state, broker_url=broker_url, broker_namespace=namespace)
        settings.ensure_state_dir()
        topology = Topology(namespace)
        loop = Loop(settings=settings, topology=topology)
        hub = loop.start_hub(tick_interval_s=0.05)
        agencies = [a.id for a in settings.agencies]
        taps = {a: ReceiptTap(loop, a) for a in agencies}
        built = [build(settings, a, topology) for a in agencies]
        try:
            for connector in built:
                assert "agency-events" in [s.name for s in connector.services]
                connector.start_services()
            hub.submit_referral(referral_data("REF-0001"))
            done = hub.record_decision({
                "decision_id": "D-1", "referral_id": "REF-0001", "outcome": "section_17",
                "rationale": "Synthetic rationale.", "decided_by": "mash-manager-2",
                "decided_at": "2025-06-02T15:00:00+00:00", "notify": agencies,
            })
            outcome_ids = {o.recipient: o.outcome_id for o in done.outcomes}
            for agency, tap in taps.items():
                wait_for(lambda tap=tap: tap.statuses() == ["delivered"], 30, f"{agency}'s delivered receipt")
                assert tap.receipts()[0].outcome_id == outcome_ids[agency]
            assert {a: taps[a].receipts()[0].channel for a in agencies} == {
                "police-synth": "drop-folder", "education-synth": "webhook", "social-care-synth": "drop-folder",
                "health-synth": "fhir-communication"}
            [police_file] = (state / "police" / "events" / "outbox").glob("*.json")
            assert "Update the police record" in json.loads(police_file.read_text(encoding="utf-8"))["text"]
            [social_file] = (state / "connector-social-care-synth.events" / "outbox").glob("*.json")
            assert "Allocate the case" in json.loads(social_file.read_text(encoding="utf-8"))["text"]
            assert "designated safeguarding lead" in hook.payloads()[0]["text"]
            [communication] = [c for c in sim.store.resources.get("Communication", {}).values()
                               if c["identifier"][0]["system"] == EVENT_SYSTEM]
            assert "health record" in communication["payload"][0]["contentString"]

            # The hub stores each receipt against its outcome (visible on the referral).
            def statuses() -> dict[str, str]:
                from sqlalchemy import select

                from mashlink.hub.models import OutcomeRow

                with hub.factory() as session:
                    rows = session.execute(select(OutcomeRow).where(OutcomeRow.recipient.in_(agencies))).scalars()
                    return {r.recipient: r.delivery_status for r in rows}

            wait_for(lambda: set(statuses().values()) == {"delivered"}, 30, "the hub to record every receipt")
            assert sorted(statuses()) == sorted(agencies)
        finally:
            for connector in built:
                connector.stop_services()
            for tap in taps.values():
                tap.close()
            loop.close()


def test_simulated_connector_as_in_docker_compose_consumes_its_events_into_a_folder(tmp_path: Path,
                                                                                   broker_url: str) -> None:
    from mashlink.connectors.factory import build_connector
    from tests.events.support import context, decide, events_loop

    with events_loop(tmp_path, broker_url) as (loop, hub):
        tap = ReceiptTap(loop, "education-synth")
        ctx = context(loop, "education-synth")
        ctx.simulated = True  # ``mashlink connector education-synth --simulated``
        built = build_connector(ctx)
        assert [s.name for s in built.services] == ["agency-events"]
        built.start_services()
        try:
            outcome_id = decide(hub, "education-synth", outcome="nfa_advice")
            wait_for(lambda: tap.statuses() == ["delivered"], 30, "the delivered receipt")
            [written] = (loop.settings.state_dir / "connector-education-synth.events" / "outbox").glob("*.json")
            payload = json.loads(written.read_text(encoding="utf-8"))
            assert payload["outcome_id"] == outcome_id and "no further action" in payload["text"]
        finally:
            built.stop_services()
            tap.close()
