"""A sixth agency kind added with YAML only: a housing service's CSV export served by ``connector: records``.

The agency is configuration (``kind: other``, ``connector: records``) plus the
mapping spec in ``data/housing-tenancies.yaml``; no Python is written for it.
A referral goes into a real hub (``memory://`` and RabbitMQ), the hub fans an enquiry out to
the housing agency, the declared channel (export -> spec -> match index ->
shared matcher -> answer builder) answers, and the linked view shows the
housing record matched and its concern in the chronology.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from mashlink.broker.topology import Topology
from mashlink.config.errors import ConfigError
from mashlink.config.settings import MashlinkSettings, load_settings
from mashlink.connectors.declared_channel import DeclaredChannel
from mashlink.connectors.factory import BuiltConnector, ConnectorContext, agency_index, build_connector
from mashlink.connectors.runtime import ConnectorRunner
from mashlink.connectors.simulators.population import generate_population
from mashlink.connectors.simulators.referrals import demo_referrals
from mashlink.connectors.wiring import connector_broker_factory
from mashlink.hub.runtime import HubRuntime
from mashlink.hub.service import HubService
from mashlink.hub.wiring import hub_broker_factory
from mashlink.schemas.codes import AgencyKind, FindingCategory, LawfulBasis, Rag, ResponseStatus
from mashlink.schemas.enquiry import Enquiry
from mashlink.schemas.identifiers import Identifier, IdentifierSystem
from mashlink.schemas.person import Address, BirthDate, HumanName, Person
from mashlink.schemas.referral import Referral

DATA = Path(__file__).parent / "data"
AGENCY = "housing-synth"
POLICY = {"subject_fields": ["names", "birth_date", "sex", "addresses", "identifiers.nhs_number"],
          "finding_categories": ["other.information_held", "other.concern"]}


def housing_config(tmp_path: Path, **options: Any) -> Path:
    """The whole of the housing agency: an ``agencies`` entry and its sharing policy."""
    export = tmp_path / "exports"
    export.mkdir(exist_ok=True)
    shutil.copy(DATA / "tenancies.csv", export / "tenancies.csv")
    agency = {"id": AGENCY, "kind": "other", "name": "Synthshire Housing", "connector": "records",
              "options": {"records": str(export / "tenancies.csv"), "spec": str(DATA / "housing-tenancies.yaml"),
                          **options}}
    path = tmp_path / "mashlink.yaml"
    path.write_text(yaml.safe_dump({"agencies": [agency], "sharing_policies": {AGENCY: POLICY}}), encoding="utf-8")
    return path


def settings_for(config: Path, tmp_path: Path, broker_url: str = "memory://") -> MashlinkSettings:
    state = tmp_path / "state"
    settings = load_settings(config, broker_url=broker_url, broker_namespace=f"ch{uuid.uuid4().hex[:8]}",
                             state_dir=str(state), database_url=f"sqlite:///{state / 'hub.sqlite'}")
    settings.ensure_state_dir()
    return settings


def build(settings: MashlinkSettings) -> BuiltConnector:
    topology = Topology(settings.broker_namespace)
    ctx = ConnectorContext(settings=settings, agency=settings.agency(AGENCY),
                           agency_index=agency_index(settings, AGENCY), topology=topology,
                           broker_factory=connector_broker_factory(settings, AGENCY, topology=topology))
    return build_connector(ctx)


def ada(person_id: str = "child-ada", *, nhs: bool = True) -> Person:
    """The referral's child, as the MASH knows her; the housing export holds her as HT-1001."""
    return Person(person_id=person_id, names=[HumanName(given=["Ada"], family="Synthwell")],
                  birth_date=BirthDate(value=date(2015, 3, 14)),
                  addresses=[Address(lines=["1 Example Row"], town="Synthtown", postcode="ZY9 1AA")],
                  identifiers=[Identifier(system=IdentifierSystem.NHS_NUMBER, value="9990000018")] if nhs else [])


def unknown_child() -> Person:
    return Person(person_id="child-unknown", names=[HumanName(given=["Quill"], family="Nobodyson")],
                  birth_date=BirthDate(value=date(2016, 7, 1)),
                  addresses=[Address(postcode="ZY4 2AB")])


def enquiry(*subjects: Person) -> Enquiry:
    now = datetime.now(UTC)
    return Enquiry(enquiry_id=uuid.uuid4().hex, referral_id=uuid.uuid4().hex, agency_id=AGENCY,
                   agency_kind=AgencyKind.OTHER, subjects=list(subjects), rag=Rag.AMBER, requested_at=now,
                   due_at=now + timedelta(hours=24), lawful_basis=[LawfulBasis.CHILDREN_ACT_1989_S47],
                   requester="Synthshire MASH")


@pytest.fixture(params=["memory", "rabbitmq"])
def hub_and_channel(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[HubService, MashlinkSettings]]:
    """A real hub and the housing channel's runner, on memory:// and on RabbitMQ (the same code on both)."""
    url = "memory://" if request.param == "memory" else request.getfixturevalue("amqp_url")
    settings = settings_for(housing_config(tmp_path, reload_interval_s=3600), tmp_path, url)
    topology = Topology(settings.broker_namespace)
    service = HubService.open(settings, topology=topology)
    runtime = HubRuntime(service, hub_broker_factory(settings, topology), tick_interval_s=0.2)
    runtime.start()
    built = build(settings)
    runner = ConnectorRunner(built.connector, connector_broker_factory(settings, AGENCY, topology=topology))
    built.start_services()
    runner.start()
    try:
        yield service, settings
    finally:
        runner.stop()
        built.stop_services()
        runtime.stop()
        service.close()
        cleaner = hub_broker_factory(settings, topology)()
        try:
            cleaner.delete_topology([AGENCY])
        finally:
            cleaner.close()


def test_referral_answered_by_a_yaml_only_housing_agency(
        hub_and_channel: tuple[HubService, MashlinkSettings]) -> None:
    service, _settings = hub_and_channel
    template = demo_referrals(generate_population(7), datetime.now(UTC))[2]
    referral: Referral = template.model_copy(update={
        "referral_id": f"ref-{uuid.uuid4().hex[:12]}", "subjects": [ada(), unknown_child()],
        "household": [], "relationships": []})
    service.submit_referral(referral)
    deadline = datetime.now(UTC) + timedelta(seconds=60)
    while service.referral_status(referral.referral_id).outstanding and datetime.now(UTC) < deadline:
        time.sleep(0.1)
    assert not service.referral_status(referral.referral_id).outstanding, "the housing agency never answered"

    view = service.linked_view(referral.referral_id)
    assert [(a.agency_id, a.kind) for a in view.agencies] == [(AGENCY, AgencyKind.OTHER)]
    by_subject = {s.person_id: s for s in view.subjects}
    (match,) = by_subject["child-ada"].matches
    assert match.agency_id == AGENCY and match.source.record_id == "HT-1001" and match.agency_kind is AgencyKind.OTHER
    assert by_subject["child-unknown"].matches == [] and by_subject["child-unknown"].candidates == []
    (entry,) = view.chronology
    assert entry.category is FindingCategory.OTHER_CONCERN and entry.agency_id == AGENCY
    assert entry.source_system == "Synth Housing Management" and entry.subject_ref == "child-ada"
    assert entry.summary.startswith("Rent arrears")


def test_the_channel_releases_only_confirmed_records_and_says_not_known(tmp_path: Path) -> None:
    built = build(settings_for(housing_config(tmp_path, settle_s=0), tmp_path))
    channel = built.connector
    assert isinstance(channel, DeclaredChannel) and len(channel.index) == 4
    (found,) = channel.handle(enquiry(ada()))
    assert found.status is ResponseStatus.INFORMATION_FOUND
    (match,) = found.matches
    assert (match.record_person_id, match.candidate, match.source.agency_id) == ("HT-1001", False, AGENCY)
    assert [f.finding_id for f in found.findings] == ["HC-501"]
    assert all(f.source.agency_kind is AgencyKind.OTHER for f in found.findings)

    (nothing,) = channel.handle(enquiry(unknown_child()))
    assert nothing.status is ResponseStatus.NOT_KNOWN and nothing.people == [] and nothing.findings == []

    # Her twin on the same tenancy: a near-tie goes to a person; nothing about either is released.
    with channel.source.path.open("a", encoding="utf-8") as export:
        export.write("HT-1006,Ava,Synthwell,14/03/2015,,1 Example Row,Synthtown,ZY9 1AA,HC-506,03/02/2026,Twin\n")
    assert channel.reload().accepted == 5
    (maybe,) = channel.handle(enquiry(ada(nhs=False)))
    assert maybe.status is ResponseStatus.INFORMATION_FOUND
    assert sorted((m.record_person_id, m.candidate) for m in maybe.matches) == [("HT-1001", True), ("HT-1006", True)]
    assert maybe.findings == [] and all(p.identifiers == [] for p in maybe.people)
    assert "2 possible record(s) need confirmation" in (maybe.note or "")


def test_a_changed_export_is_re_read_and_a_bad_row_is_reported_by_position(tmp_path: Path) -> None:
    built = build(settings_for(housing_config(tmp_path, settle_s=0), tmp_path))
    channel = built.connector
    assert isinstance(channel, DeclaredChannel)
    assert channel.reload().reloaded is False  # unchanged: nothing re-read
    export = channel.source.path
    rows = export.read_text(encoding="utf-8").splitlines()
    rows = [r for r in rows if not r.startswith("HT-1001,")]
    rows.append("HT-1005,Eli,Examplar,not-a-date,,3 Test Yard,Synthtown,ZY2 5DQ,HC-505,01/01/2026,Noise")
    export.write_text("\n".join(rows) + "\n", encoding="utf-8")
    report = channel.reload()
    assert report.reloaded and report.accepted == 3 and report.rejected == 1
    assert "line 5" in report.problems[0] and "birth_date" in report.problems[0]
    assert "Examplar" not in report.problems[0]  # positions and rules, never the record's content
    (gone,) = channel.handle(enquiry(ada()))
    assert gone.status is ResponseStatus.NOT_KNOWN


def test_a_record_claiming_another_agency_kind_is_refused(tmp_path: Path) -> None:
    spec = (DATA / "housing-tenancies.yaml").read_text(encoding="utf-8").replace(
        "    const: other\n", "    const: social_care\n", 1)
    (tmp_path / "wrong-kind.yaml").write_text(spec.replace("other.concern", "social_care.referral"), encoding="utf-8")
    built = build(settings_for(housing_config(tmp_path, spec=str(tmp_path / "wrong-kind.yaml")), tmp_path))
    channel = built.connector
    assert isinstance(channel, DeclaredChannel)
    assert len(channel.index) == 0
    (answer,) = channel.handle(enquiry(ada()))
    assert answer.status is ResponseStatus.NOT_KNOWN


@pytest.mark.parametrize("change, path, rule", [
    ({"connector": "recrods"}, "agencies[0].connector", "unknown connector"),
    ({"connector": "ctf"}, "agencies[0].connector", "serves education agencies, not other"),
    ({"kind": "housing"}, "agencies[0].kind", "other"),
])
def test_bad_agency_declarations_name_the_field(tmp_path: Path, change: dict[str, str], path: str, rule: str) -> None:
    config = housing_config(tmp_path)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["agencies"][0].update(change)
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        settings_for(config, tmp_path)
    issues = {i.path: i.rule for i in info.value.issues}
    assert path in issues, issues
    assert rule in issues[path]


@pytest.mark.parametrize("options, path, rule", [
    ({"spec": None}, "agencies[0].options.spec", "required"),
    ({"spec": "/nonexistent/housing.yaml"}, "agencies[0].options.spec", "does not exist"),
    ({"records": "/nonexistent/tenancies.csv"}, "agencies[0].options.records", "does not exist"),
    ({"reload_interval_s": 0}, "agencies[0].options.reload_interval_s", "greater than or equal"),
])
def test_bad_channel_options_name_the_field(tmp_path: Path, options: dict[str, Any], path: str, rule: str) -> None:
    config = housing_config(tmp_path)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    for key, value in options.items():
        if value is None:
            data["agencies"][0]["options"].pop(key)
        else:
            data["agencies"][0]["options"][key] = value
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        build(settings_for(config, tmp_path))
    issues = {i.path: i.rule for i in info.value.issues}
    assert path in issues, issues
    assert rule in issues[path].lower()


def test_a_spec_that_is_not_a_spec_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("spec: broken\nversion: 1\ntarget: AgencyRecord\nlanguage: csv\nrules:\n  - target: nowhere.at_all\n"
                   "    source: x\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        build(settings_for(housing_config(tmp_path, spec=str(bad)), tmp_path))
    (issue,) = info.value.issues
    assert issue.path == "agencies[0].options.spec" and "cannot load mapping spec" in issue.rule


def test_searches_keep_answering_while_the_export_is_reloaded(tmp_path: Path) -> None:
    import threading

    channel = build(settings_for(housing_config(tmp_path), tmp_path)).connector
    assert isinstance(channel, DeclaredChannel)
    failures: list[BaseException] = []
    stop = threading.Event()

    def reload_repeatedly() -> None:
        try:
            while not stop.is_set():
                channel.reload(force=True)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    reloader = threading.Thread(target=reload_repeatedly)
    reloader.start()
    try:
        statuses = {channel.handle(enquiry(ada()))[0].status for _ in range(40)}
    finally:
        stop.set()
        reloader.join()
    assert failures == [] and statuses == {ResponseStatus.INFORMATION_FOUND}
    # Superseded index files are removed: only the one searched is left.
    assert len(list((tmp_path / "state").glob("connector-housing-synth.records.match.*.sqlite3"))) == 1
