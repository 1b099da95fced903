"""``mashlink police intake`` and ``mashlink education ingest`` as an operator runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from mashlink.config.settings import load_settings
from mashlink.connectors.education.index import PupilIndex
from mashlink.connectors.simulators.ctf_writer import ctf_from_population
from mashlink.connectors.police.schema import EXAMPLES_DIR
from mashlink.connectors.simulators.population import generate_population
from mashlink.broker.topology import Topology
from mashlink.hub.errors import NotFound
from mashlink.hub.runtime import HubRuntime
from mashlink.hub.service import HubService
from mashlink.hub.wiring import hub_broker_factory

from tests.wiring.helpers import drop_topology, wait_for, write_config

MASHLINK = str(Path(sys.executable).with_name("mashlink"))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASHLINK_")}
    return subprocess.run([MASHLINK, *args], capture_output=True, text=True, timeout=120, env=env)


def test_police_intake_creates_a_referral_in_the_sqlite_hub_once(tmp_path: Path) -> None:
    database = tmp_path / "hub.sqlite"
    config = write_config(tmp_path / "c.yaml", [
        {"id": "police-x", "kind": "police", "connector": "pole", "options": {"exports": ["exports"]}},
        {"id": "edu-x", "kind": "education", "connector": "ctf"},
    ], state_dir=str(tmp_path / "state"), database_url=f"sqlite:///{database}")
    example = EXAMPLES_DIR / "pole-example.json"
    first = _run("police", "intake", str(example), "--file", str(config), "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["cctn_records"] == 1 and len(report["submitted"]) == 1 and report["failed"] == []
    referral_id = report["submitted"][0]

    settings = load_settings(config)
    hub = HubService.open(settings)
    try:
        referral = hub.referral(referral_id)
        assert referral.source.value == "6" and referral.rag.value == "red"
        status = hub.referral_status(referral_id)
        assert sorted(e.agency_id for e in status.enquiries) == ["edu-x", "police-x"]
    finally:
        hub.close()

    again = _run("police", "intake", str(example), "--file", str(config))
    assert again.returncode == 0, again.stderr
    assert f"already submitted: referral {referral_id}" in again.stdout
    assert "0 submitted, 1 already submitted" in again.stdout

    only = _run("police", "intake", str(example), "--file", str(config), "--agency", "nobody")
    assert only.returncode == 2 and "nobody" in only.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    unreadable = _run("police", "intake", str(bad), "--file", str(config))
    assert unreadable.returncode == 1 and "nothing usable" in unreadable.stderr


@pytest.mark.rabbitmq
def test_police_intake_via_broker_reaches_the_hub_without_its_database(tmp_path: Path, amqp_url: str,
                                                                      unique_name: str) -> None:
    namespace = f"tcli{unique_name}"
    config = write_config(tmp_path / "c.yaml", [
        {"id": "police-x", "kind": "police", "connector": "pole", "options": {"exports": ["exports"]}},
        {"id": "edu-x", "kind": "education", "connector": "ctf"},
    ], state_dir=str(tmp_path / "state"), database_url=f"sqlite:///{tmp_path / 'hub.sqlite'}",
        broker_url=amqp_url, broker_namespace=namespace)
    settings = load_settings(config)
    topology = Topology(namespace)
    hub = HubService.open(settings, topology=topology)
    runtime = HubRuntime(hub, hub_broker_factory(settings, topology))
    runtime.start()  # the hub side, as `mashlink hub` runs it
    example = EXAMPLES_DIR / "pole-example.json"
    try:
        # The force's machine: a configuration without the hub's database is enough.
        sent = _run("police", "intake", str(example), "--file", str(config), "--via-broker", "police-x", "--json")
        assert sent.returncode == 0, sent.stderr
        (referral_id,) = json.loads(sent.stdout)["submitted"]
        status = wait_for(lambda: _status_or_none(hub, referral_id), what="the referral in the hub")
        assert sorted(e.agency_id for e in status.enquiries) == ["edu-x", "police-x"]
        assert hub.referral(referral_id).source.value == "6"
        wrong = _run("police", "intake", str(example), "--file", str(config), "--via-broker", "edu-x")
        assert wrong.returncode == 2 and "not a configured police agency" in wrong.stderr
        both = _run("police", "intake", str(example), "--file", str(config), "--via-broker", "police-x",
                    "--agency", "edu-x")
        assert both.returncode == 2 and "hub chooses" in both.stderr
    finally:
        runtime.stop()
        drop_topology(settings, topology)
        hub.close()
    assert not runtime.errors


def _status_or_none(hub: HubService, referral_id: str):  # type: ignore[no-untyped-def]
    try:
        return hub.referral_status(referral_id)
    except NotFound:
        return None


def test_education_ingest_runs_one_pass_and_prints_the_report(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", [
        {"id": "edu-x", "kind": "education", "connector": "ctf", "options": {"drop_folder": "ctf"}},
    ], state_dir=str(tmp_path / "state"))
    nothing = _run("education", "ingest", "--file", str(config))
    assert nothing.returncode == 0 and "0 file(s)" in nothing.stdout
    incoming = tmp_path / "state" / "ctf" / "incoming"
    population = generate_population(4242, as_of=date.today())
    (incoming / "a-school.xml").write_bytes(ctf_from_population(population, limit=3))
    (incoming / "b-broken.xml").write_text("<CTfile><Header>", encoding="utf-8")
    result = _run("education", "ingest", "--file", str(config))
    assert result.returncode == 0, result.stderr
    assert "a-school.xml: ingested, 3 accepted" in result.stdout
    assert "b-broken.xml: failed" in result.stdout
    assert "3 pupil record(s) accepted" in result.stdout
    assert PupilIndex(tmp_path / "state" / "connector-edu-x.ctf-index.sqlite3").count() == 3

    other = tmp_path / "elsewhere"
    (other / "incoming").mkdir(parents=True)
    (other / "incoming" / "c-broken.xml").write_text("not xml", encoding="utf-8")
    failed = _run("education", "ingest", "--file", str(config), "--folder", str(other), "--json")
    assert failed.returncode == 1
    report = json.loads(failed.stdout)
    assert [f["status"] for f in report["files"]] == ["failed"] and report["pupils_in_index"] == 3
    assert (other / "failed" / "c-broken.xml.reason.txt").exists()
