"""One declaration of connector kinds (config/connector_kinds.yaml) and the registry that resolves it."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
import yaml
from pydantic import BaseModel

from mashlink.config.connector_kinds import DECLARATION_FILE, connector_kinds, load_connector_kinds
from mashlink.config.models import KNOWN_CONNECTORS
from mashlink.config.settings import RunnerSettings
from mashlink.connectors import registry
from mashlink.connectors.base import AgencyConnector
from mashlink.connectors.factory import BUILTIN_BUILDERS, ConnectorUnavailable
from mashlink.connectors.simulators import simulator_for
from mashlink.connectors.simulators.population import generate_population
from mashlink.mapping import FormatRegistry, mappings_dir
from mashlink.ops.commands.agency import agency_blocks
from mashlink.ops.commands.connector import runner_settings_from
from mashlink.schemas.codes import STATUTORY_AGENCY_KINDS, AgencyKind, ResponseStatus
from mashlink.schemas.enquiry import Enquiry, EnquiryResponse

from tests.channels.test_yaml_only_agency import build, housing_config, settings_for

ROOT = Path(__file__).resolve().parents[2]


def test_every_declared_path_imports_and_every_declared_spec_ships() -> None:
    declared = connector_kinds()
    for name, kind in declared.connectors.items():
        assert callable(registry.load_target(kind.builder)), name
        if kind.options:
            assert issubclass(registry.load_target(kind.options), BaseModel), name
        if kind.formats:
            assert callable(registry.load_target(kind.formats)), name
        for spec in kind.specs:
            assert (mappings_dir() / spec).is_file(), f"{name}: {spec} is not in config/mappings"
    for agency_kind, entry in declared.agency_kinds.items():
        if entry.simulator:
            assert callable(registry.load_target(entry.simulator)), agency_kind


def test_declared_events_channel_matches_the_options_model() -> None:
    """``events: native`` connectors take the shared web hook / drop folder options; trusts' take their own."""
    from mashlink.connectors.channel_options import NativeChannelOptions

    for name, kind in connector_kinds().connectors.items():
        if kind.options is None:
            continue
        native = issubclass(registry.load_target(kind.options), NativeChannelOptions)
        assert native == (kind.events == "native"), name


def test_the_old_tables_are_views_of_the_declaration() -> None:
    declared = connector_kinds().connectors
    assert KNOWN_CONNECTORS == {name: kind.serves for name, kind in declared.items()}
    assert dict(BUILTIN_BUILDERS) == {name: kind.builder for name, kind in declared.items()}
    assert KNOWN_CONNECTORS["records"] == frozenset(AgencyKind)
    assert KNOWN_CONNECTORS["reference"] == frozenset(STATUTORY_AGENCY_KINDS)


def test_the_formats_entry_point_is_the_registry_and_registers_every_shipped_format() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["entry-points"]["mashlink.formats"] == {
        "mashlink": "mashlink.connectors.registry:register_formats"}
    formats = FormatRegistry()
    registry.register_formats(formats)  # health's registration is declared twice (fhir, hl7v2) and runs once
    assert set(formats.names()) == {"fhir", "hl7v2", "pole", "ctf", "cin", "ssda903"}


def test_a_bad_declaration_names_the_field(tmp_path: Path) -> None:
    data = yaml.safe_load(DECLARATION_FILE.read_text(encoding="utf-8"))
    data["connectors"]["ctf"]["builder"] = "not a path"
    bad = tmp_path / "kinds.yaml"
    bad.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ValueError, match=r"connectors\.ctf\.builder: String should match pattern"):
        load_connector_kinds(bad)
    del data["agency_kinds"]["other"]
    data["connectors"]["ctf"]["builder"] = "a.b:c"
    bad.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ValueError, match="every AgencyKind must be declared; missing other"):
        load_connector_kinds(bad)


def test_simulators_come_from_the_declaration_and_other_has_none() -> None:
    population = generate_population(11)
    for kind in STATUTORY_AGENCY_KINDS:
        assert simulator_for(kind, population, f"{kind.value}-x").records
    with pytest.raises(LookupError, match="no simulated other agency system"):
        simulator_for(AgencyKind.OTHER, population, "housing-x")


def test_simulated_run_of_an_other_agency_is_refused_naming_the_kind(tmp_path: Path) -> None:
    from mashlink.broker.topology import Topology
    from mashlink.connectors.factory import ConnectorContext, build_connector
    from mashlink.connectors.wiring import connector_broker_factory

    settings = settings_for(housing_config(tmp_path), tmp_path)
    topology = Topology(settings.broker_namespace)
    ctx = ConnectorContext(settings=settings, agency=settings.agencies[0], agency_index=0, topology=topology,
                           broker_factory=connector_broker_factory(settings, "housing-synth", topology=topology),
                           simulated=True)
    with pytest.raises(ConnectorUnavailable, match=r"agencies\[0\]\.kind: there is no simulated other"):
        build_connector(ctx)


class _PluginConnector:
    """A connector from a plugin path: answers every enquiry not_known."""

    agency_kind = AgencyKind.OTHER

    def __init__(self, agency_id: str) -> None:
        self.agency_id = agency_id

    def handle(self, enquiry: Enquiry) -> list[EnquiryResponse]:
        return [EnquiryResponse(response_id="r-1", enquiry_id=enquiry.enquiry_id, referral_id=enquiry.referral_id,
                                agency_id=self.agency_id, agency_kind=self.agency_kind,
                                status=ResponseStatus.NOT_KNOWN, responder="plugin",
                                responded_at=datetime.now(UTC))]


def plugin_factory(ctx: object) -> AgencyConnector:
    return _PluginConnector(ctx.agency.id)  # type: ignore[attr-defined]


def test_a_plugin_path_still_builds(tmp_path: Path) -> None:
    config = housing_config(tmp_path)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["agencies"][0].update(connector="tests.channels.test_registry:plugin_factory", options={})
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    built = build(settings_for(config, tmp_path))
    assert isinstance(built.connector, _PluginConnector) and built.description == data["agencies"][0]["connector"]


def test_agency_add_for_another_kind_prints_a_records_channel() -> None:
    blocks = agency_blocks("housing-north", "other")
    (entry,) = blocks.config["agencies"]
    assert entry["connector"] == "records" and set(entry["options"]) == {"records", "spec"}
    policy = blocks.config["sharing_policies"]["housing-north"]
    assert "identifiers.nhs_number" in policy["subject_fields"]
    police = agency_blocks("police-north", "police")
    assert police.config["agencies"][0]["connector"] == "reference"
    assert "identifiers.pnc_id" in police.config["sharing_policies"]["police-north"]["subject_fields"]


def test_connector_command_runner_defaults_come_from_the_settings(capsys: pytest.CaptureFixture[str]) -> None:
    configured = RunnerSettings(red_workers=5, inline_batch=16)  # as YAML connector_runtime: would set them
    assert runner_settings_from(configured, red_workers=None, standard_workers=None, inline_batch=None) == configured
    given = runner_settings_from(configured, red_workers=3, standard_workers=None, inline_batch=None)
    assert (given.red_workers, given.standard_workers, given.inline_batch) == (3, RunnerSettings().standard_workers, 16)
    with pytest.raises(typer.Exit) as info:
        runner_settings_from(configured, red_workers=0, standard_workers=None, inline_batch=None)
    assert info.value.exit_code == 2
    assert "--red-workers: Input should be greater than or equal to 1" in capsys.readouterr().err
