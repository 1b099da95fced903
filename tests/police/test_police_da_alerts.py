"""A new domestic-abuse occurrence in a watched child's household reaches the hub as one alert.

A real hub (``HubService`` + ``HubRuntime``) and the police connector built from
configuration exchange messages over the embedded ``memory://`` broker and over
RabbitMQ. The connector answers an enquiry about a child found in the force's
POLE export, then the export is rewritten with new occurrences: the reload
publishes an alert for the child's household (facts, no names), never twice
and never for an unrelated household, and the MASH decision ends the watch.
"""

from __future__ import annotations

import copy
import json
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mashlink.broker.topology import Topology
from mashlink.connectors.police.schema import EXAMPLES_DIR
from mashlink.connectors.police.connector import PoliceConnector
from mashlink.connectors.police.store import PoleStore
from mashlink.connectors.police.watch import DaAlertWatcher, PoliceWatchState, ReferralClosedEffect
from mashlink.connectors.police.wiring import ReloadingPoliceConnector
from mashlink.connectors.runtime import ConnectorRunner
from mashlink.connectors.wiring import connector_broker_factory
from mashlink.hub.models import AlertRow
from mashlink.hub.runtime import HubRuntime
from mashlink.hub.service import HubService
from mashlink.hub.wiring import hub_broker_factory
from mashlink.schemas.codes import AgencyKind
from mashlink.schemas.enquiry import Enquiry, EnquiryResponse
from mashlink.schemas.events import Alert, AlertKind, WatchReason
from mashlink.schemas.person import Person
from tests.hub.hub_support import referral_data
from tests.wiring.helpers import build, drop_topology, enquiry_for, settings_for, wait_for, write_config

AGENCY = "police-x"
#: Everything that names or identifies a person of the example export; none may reach an alert.
PERSONAL = ("Mia", "Jodie", "Carl", "Examplesmith", "Samplesworth", "2013-07-21", "12 Sample Row", "ZY1 2AB",
            "ZZP0000101", "ZZP0000102", "ZZP0000103", "Zed", "Unrelated")


@pytest.fixture(params=["memory", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def broker_url(request: pytest.FixtureRequest) -> str:
    return "memory://" if request.param == "memory" else str(request.getfixturevalue("amqp_url"))


def _example() -> dict[str, Any]:
    return json.loads((EXAMPLES_DIR / "pole-example.json").read_text(encoding="utf-8"))


def _with_da_at_household(doc: dict[str, Any], beat: str | None = None) -> dict[str, Any]:
    """The mother (same household as the child) is the victim of a new DA occurrence at their home."""
    doc = copy.deepcopy(doc)
    doc["events"].append({"event_id": "EV-9", "reference": "ZZ-2026-000901", "type": "DA",
                          "occurred_from": "2026-11-30", "summary": "Jodie Examplesmith assaulted at home.",
                          "handling_code": "P", "codes": ["DA"], "risk": "high",
                          "attributes": {"beat": beat} if beat else {}})
    doc["links"] += [
        {"link_id": "LK-90", "type": "victim", "from_kind": "person", "from_id": "ZZP0000101",
         "to_kind": "event", "to_id": "EV-9"},
        {"link_id": "LK-91", "type": "occurred_at", "from_kind": "event", "from_id": "EV-9",
         "to_kind": "location", "to_id": "LOC-1"},
    ]
    return doc


def _with_da_elsewhere(doc: dict[str, Any]) -> dict[str, Any]:
    """A DA occurrence between two adults at another address, nobody linked to the child."""
    doc = copy.deepcopy(doc)
    doc["persons"] += [
        {"person_id": "ZZP0000201", "names": [{"use": "official", "given": ["Zed"], "family": "Unrelated"}],
         "birth_date": "1980-01-01", "sex": "M"},
        {"person_id": "ZZP0000202", "names": [{"use": "official", "given": ["Yan"], "family": "Unrelated"}],
         "birth_date": "1982-02-02", "sex": "F"},
    ]
    doc["locations"].append({"location_id": "LOC-2", "lines": ["99 Other Road"], "town": "Exampleton",
                             "postcode": "ZY9 9ZZ"})
    doc["events"].append({"event_id": "EV-10", "reference": "ZZ-2026-000910", "type": "DA",
                          "occurred_from": "2026-12-01", "summary": "Argument.", "handling_code": "P",
                          "codes": ["DA"]})
    doc["links"] += [
        {"link_id": "LK-100", "type": "victim", "from_kind": "person", "from_id": "ZZP0000202",
         "to_kind": "event", "to_id": "EV-10"},
        {"link_id": "LK-101", "type": "suspect", "from_kind": "person", "from_id": "ZZP0000201",
         "to_kind": "event", "to_id": "EV-10"},
        {"link_id": "LK-102", "type": "resident", "from_kind": "person", "from_id": "ZZP0000201",
         "to_kind": "location", "to_id": "LOC-2"},
        {"link_id": "LK-103", "type": "resident", "from_kind": "person", "from_id": "ZZP0000202",
         "to_kind": "location", "to_id": "LOC-2"},
        {"link_id": "LK-104", "type": "occurred_at", "from_kind": "event", "from_id": "EV-10",
         "to_kind": "location", "to_id": "LOC-2"},
    ]
    return doc


def _write(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc), encoding="utf-8")
    tmp.replace(path)


def _referral(referral_id: str) -> dict[str, Any]:
    """A referral about the example export's child (the police-held facts, made up)."""
    data = referral_data(referral_id, received_at=datetime.now(UTC))
    data["subjects"] = [{
        "person_id": "c1", "names": [{"given": ["Mia"], "family": "Examplesmith"}],
        "birth_date": {"value": "2013-07-21"}, "sex": "female",
        # Known to the force (an earlier check): a clear match; an uncertain candidate is never watched.
        "identifiers": [{"system": "police_person_id", "value": "ZZP0000103", "scope": "ZZ"}],
        "addresses": [{"lines": ["12 Sample Row"], "town": "Exampleton", "postcode": "ZY1 2AB"}],
    }]
    data["household"] = []
    data["relationships"] = []
    return data


def test_new_da_occurrence_at_a_watched_childs_household_alerts_the_hub_once(
        tmp_path: Path, broker_url: str, unique_name: str) -> None:
    export = tmp_path / "exports" / "force.json"
    export.parent.mkdir()
    base = _example()
    _write(export, base)
    config = write_config(tmp_path / "c.yaml", [
        {"id": AGENCY, "kind": "police", "connector": "pole",
         "options": {"exports": [str(export.parent)], "reload": "never", "force_code": "ZZ"}},
    ])
    settings = settings_for(config, tmp_path / "state", broker_url=broker_url)
    topology = Topology(f"tpda{unique_name}")
    hub = HubService.open(settings, topology=topology)
    runtime = HubRuntime(hub, hub_broker_factory(settings, topology), tick_interval_s=0.5)
    runtime.start()
    built = build(settings, AGENCY, topology)
    runner = ConnectorRunner(built.connector, connector_broker_factory(settings, AGENCY, topology=topology))
    try:
        built.start_services()
        runner.start()
        connector = built.connector
        assert isinstance(connector, ReloadingPoliceConnector) and isinstance(connector.watcher, DaAlertWatcher)
        watcher = connector.watcher
        # The occurrences already in the export at the first start are the baseline, not news.
        assert watcher.state.has_baseline() and "ZZ-2025-000101" in watcher.state.seen_references()

        referral_id = f"REF-{uuid.uuid4().hex[:8]}"
        hub.submit_referral(_referral(referral_id), agencies=[AGENCY])
        wait_for(lambda: not hub.referral_status(referral_id).outstanding, what="the police answer")
        [child] = watcher.state.watched()
        assert (child.police_person_id, child.person_ref, child.referral_id) == ("ZZP0000103", "c1", referral_id)
        assert child.reason.value == "open_referral"

        # An occurrence about an unrelated household: seen, no alert.
        _write(export, _with_da_elsewhere(base))
        assert connector.refresh().reloaded
        assert watcher.state.alerted_count() == 0 and "ZZ-2026-000910" in watcher.state.seen_references()

        # The mother (same household) is the victim of a new DA occurrence: one alert, facts only.
        _write(export, _with_da_at_household(_with_da_elsewhere(base), beat="zz-b12"))
        assert connector.refresh().reloaded
        [alert] = wait_for(lambda: hub.referral_loop(referral_id).alerts, what="the DA alert on the referral")
        assert watcher.state.alerted_count() == 1
        assert (alert.kind, alert.agency_id, alert.organisation) == ("domestic_abuse_incident", AGENCY, "ZZ")
        assert (alert.person_ref, alert.watched_because) == ("c1", "open_referral")
        assert alert.occurred_at == datetime(2026, 11, 30, tzinfo=UTC)
        assert alert.location == "ZZ-B12"  # the beat, never the address
        with hub.factory() as session:
            [row] = session.execute(select(AlertRow).where(AlertRow.referral_id == referral_id)).scalars()
            body = dict(row.body)
        assert body["detail"] == "Domestic abuse occurrence ZZ-2026-000901 (type DA)"
        [received] = hub.audit_events(action="alert.received")
        assert received.referral_id == referral_id and received.detail["person_ref"] == "c1"
        stored = json.dumps([body, alert.model_dump(mode="json"), received.detail], default=str)
        for secret in PERSONAL:
            assert secret not in stored, secret

        # A second reload (the export rewritten unchanged) and a restarted watcher do not alert again.
        _write(export, {**_with_da_at_household(_with_da_elsewhere(base), beat="zz-b12"), "objects": []})
        assert connector.refresh().reloaded
        again = DaAlertWatcher(AGENCY, PoliceWatchState(watcher.state.path), watcher.publish_alert)
        assert again.scan(connector.store).alerts == 0
        runtime_alerts = lambda: len(hub.referral_loop(referral_id).alerts)  # noqa: E731
        assert watcher.state.alerted_count() == 1 and runtime_alerts() == 1

        # The MASH decides: the outcome reaches the force's events queue and the child is no longer watched.
        hub.record_decision({
            "decision_id": f"DEC-{referral_id}", "referral_id": referral_id, "outcome": "early_help",
            "rationale": "Synthetic decision.", "decided_by": "mash-manager",
            "decided_at": datetime.now(UTC).isoformat()})
        wait_for(lambda: watcher.state.watched_count() == 0, what="the watch ended by the outcome")
    finally:
        runner.stop()
        built.stop_services()
        runtime.stop()
        hub.close()
        if broker_url != "memory://":
            drop_topology(settings, topology)


# --------------------------------------------------------------------------- the watcher on its own
class Published(list):  # type: ignore[type-arg]
    """The hub's side of the publish as a list; ``fail`` makes the broker refuse (the publish raises)."""

    fail = False

    def __call__(self, alert: Alert) -> None:
        if self.fail:
            raise ConnectionError("broker refused the publish")
        self.append(alert)


def _store(tmp_path: Path, doc: dict[str, Any], name: str) -> PoleStore:
    path = tmp_path / f"{name}.json"
    _write(path, doc)
    return PoleStore.load([path])


def _answer(store: PoleStore, *subjects: Person, concerns: list[str] | None = None
            ) -> tuple[Enquiry, list[EnquiryResponse]]:
    enquiry = enquiry_for(AGENCY, AgencyKind.POLICE, *subjects)
    if concerns is not None:
        enquiry = enquiry.model_copy(update={"concerns": concerns})
    return enquiry, PoliceConnector(AGENCY, store).handle(enquiry)


def _person(person_id: str, given: str, family: str, born: str, police_id: str | None = None) -> Person:
    return Person.model_validate({
        "person_id": person_id, "names": [{"given": [given], "family": family}], "birth_date": {"value": born},
        "addresses": [{"lines": ["12 Sample Row"], "town": "Exampleton", "postcode": "ZY1 2AB"}],
        "identifiers": [{"system": "police_person_id", "value": police_id, "scope": "ZZ"}] if police_id else []})


CHILD = _person("c1", "Mia", "Examplesmith", "2013-07-21", "ZZP0000103")
MOTHER = _person("m1", "Jodie", "Examplesmith", "1990-03-14", "ZZP0000101")


def test_only_confirmed_children_are_watched_and_a_cp_plan_is_the_reason(tmp_path: Path) -> None:
    store = _store(tmp_path, _example(), "base")
    watcher = DaAlertWatcher(AGENCY, PoliceWatchState(tmp_path / "w.sqlite"), Published())
    enquiry, responses = _answer(store, CHILD, MOTHER, concerns=["Child protection plan (neglect)"])
    assert watcher.watch_answer(enquiry, responses) == 1  # the mother is an adult: not watched herself
    [child] = watcher.state.watched()
    assert (child.police_person_id, child.reason) == ("ZZP0000103", WatchReason.CHILD_PROTECTION_PLAN)
    assert watcher.watch_answer(enquiry, responses) == 0  # idempotent
    # Name and date of birth alone are only a candidate for a person to confirm: never watched.
    uncertain = _person("c2", "Mia", "Examplesmith", "2013-07-21")
    enquiry2, responses2 = _answer(store, uncertain)
    assert [m.candidate for r in responses2 for m in r.matches] == [True]
    assert watcher.watch_answer(enquiry2, responses2) == 0 and watcher.state.watched_count() == 1


def test_a_failed_publish_is_retried_and_a_crash_after_publishing_does_not_alert_twice(tmp_path: Path) -> None:
    published = Published()
    state_path = tmp_path / "w.sqlite"
    watcher = DaAlertWatcher(AGENCY, PoliceWatchState(state_path), published, organisation="ZZ")
    base = _store(tmp_path, _example(), "base")
    assert watcher.start(base).baseline
    watcher.watch_answer(*_answer(base, CHILD))
    news = _store(tmp_path, _with_da_at_household(_example()), "news")

    published.fail = True
    assert watcher.after_reload(news).alerts == 0 and published == []
    assert "ZZ-2026-000901" not in watcher.state.seen_references()  # not lost: still news
    published.fail = False
    retried = watcher.poll(news)
    assert retried is not None and retried.alerts == 1 and watcher.poll(news) is None
    [alert] = published
    assert (alert.kind, alert.person_ref, alert.organisation, alert.location) == (
        AlertKind.DOMESTIC_ABUSE_INCIDENT, "c1", "ZZ", "ZY1")  # no beat in the export: the postcode district
    assert alert.detail == "Domestic abuse occurrence ZZ-2026-000901 (type DA)"

    # The process died after the broker confirmed the alert but before the occurrence was marked seen.
    with sqlite3.connect(state_path) as conn:
        conn.execute("DELETE FROM seen WHERE reference = 'ZZ-2026-000901'")
    restarted = DaAlertWatcher(AGENCY, PoliceWatchState(state_path), published, organisation="ZZ")
    assert restarted.start(news).alerts == 0 and len(published) == 1
    assert "ZZ-2026-000901" in restarted.state.seen_references()


def test_an_occurrence_arriving_while_the_connector_was_down_is_alerted_at_start(tmp_path: Path) -> None:
    published = Published()
    state_path = tmp_path / "w.sqlite"
    base = _store(tmp_path, _example(), "base")
    first = DaAlertWatcher(AGENCY, PoliceWatchState(state_path), published)
    first.start(base)
    first.watch_answer(*_answer(base, CHILD))
    restarted = DaAlertWatcher(AGENCY, PoliceWatchState(state_path), published)
    assert restarted.start(_store(tmp_path, _with_da_at_household(_example()), "news")).alerts == 1
    # The referral's outcome ends the watch: a later occurrence at the household is not alerted.
    ReferralClosedEffect(restarted)(type("Event", (), {"kind": "outcome", "referral_id":
                                                      restarted.state.watched()[0].referral_id})())
    assert restarted.state.watched_count() == 0
    later = _with_da_at_household(_example())
    later["events"][-1] = {**later["events"][-1], "event_id": "EV-9", "reference": "ZZ-2026-000999"}
    assert restarted.scan(_store(tmp_path, later, "later")).alerts == 0 and len(published) == 1
