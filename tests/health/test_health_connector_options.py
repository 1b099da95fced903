"""Building health connectors from configuration: typed options, precise errors, secrets, the example file."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mashlink.broker.topology import Topology
from mashlink.config.errors import ConfigError
from mashlink.config.settings import load_settings
from mashlink.connectors.factory import (
    BuiltConnector,
    ConnectorContext,
    ConnectorUnavailable,
    agency_index,
    build_connector,
    options_issues,
)
from mashlink.connectors.health.adt_service import AdtListener, WatchingConnector
from mashlink.connectors.health.fhir_connector import FhirSearchConnector
from mashlink.connectors.health.fhir_simulator import FhirStore, ThreadedFhirSimulator
from mashlink.connectors.health.hl7_connector import Hl7ReferralConnector
from mashlink.connectors.health.simulators import seed_fhir_store, seeded_patients
from mashlink.connectors.health.synthetic import patient_person
from mashlink.connectors.wiring import connector_broker_factory
from mashlink.schemas.codes import AgencyKind, LawfulBasis, MatchMethod, Rag, ResponseStatus
from mashlink.schemas.enquiry import Enquiry

from .conftest import health_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "health-example.yaml"
MASHLINK = str(Path(sys.executable).with_name("mashlink"))


def _build(config: Path, agency_id: str, tmp_path: Path) -> BuiltConnector:
    settings = load_settings(config, broker_url="memory://", state_dir=str(tmp_path / "state"))
    topology = Topology("topts")
    ctx = ConnectorContext(settings=settings, agency=settings.agency(agency_id),
                           agency_index=agency_index(settings, agency_id), topology=topology,
                           broker_factory=connector_broker_factory(settings, agency_id, topology=topology))
    return build_connector(ctx)


def _paths(exc: pytest.ExceptionInfo[ConfigError]) -> dict[str, str]:
    return {issue.path: issue.rule for issue in exc.value.issues}


def test_example_configuration_is_valid_and_builds_both_trusts(tmp_path: Path) -> None:
    settings = load_settings(EXAMPLE, state_dir=str(tmp_path))
    assert options_issues(settings) == []
    fhir = _build(EXAMPLE, "synth-trust-fhir", tmp_path)
    assert isinstance(fhir.connector, WatchingConnector)
    assert isinstance(fhir.connector.inner, FhirSearchConnector)
    assert fhir.connector.inner.options.mapping.organisation == "RXX"
    assert [s.name for s in fhir.services] == ["adt-listener", "agency-events", "fhir-client"]
    listener = fhir.service("adt-listener")
    assert isinstance(listener, AdtListener)
    assert "PAEDED" in listener.feed.options.ed_locations and "ED" in listener.feed.options.ed_locations
    hl7 = _build(EXAMPLE, "synth-trust-hl7", tmp_path)
    assert isinstance(hl7.connector, Hl7ReferralConnector) and [s.name for s in hl7.services] == ["agency-events"]
    assert (hl7.connector.host, hl7.connector.port, hl7.connector.sending_facility) == ("127.0.0.1", 2575, "MASH999")


def test_option_errors_name_the_agency_index_and_field_all_at_once(tmp_path: Path) -> None:
    config = health_config(tmp_path / "c.yaml", [
        {"id": "trust-ok", "connector": "hl7v2", "options": {"host": "engine", "port": 2575}},
        {"id": "trust-bad", "connector": "fhir", "options": {
            "base_url": "fhir.example", "release": ["police_restricted"], "delivery": "email",
            "adt_listen": {"port": 99999}, "retry": {"max_attempts": 0}, "colour": "blue",
            "mapping": {"mrn_system": {}}, "auth": {"bearer_token": "abc"},
        }},
        {"id": "trust-hl7-bad", "connector": "hl7v2", "options": {"port": 0}},
    ])
    with pytest.raises(ConfigError) as exc:
        _build(config, "trust-bad", tmp_path)
    paths = _paths(exc)
    assert set(paths) == {
        "agencies[1].options.base_url", "agencies[1].options.release", "agencies[1].options.delivery",
        "agencies[1].options.adt_listen.port", "agencies[1].options.retry.max_attempts",
        "agencies[1].options.colour", "agencies[1].options.mapping.mrn_system",
        "agencies[1].options.auth.bearer_token",
    }
    assert "http" in paths["agencies[1].options.base_url"]
    assert "police_restricted" in paths["agencies[1].options.release"]
    with pytest.raises(ConfigError) as exc2:
        _build(config, "trust-hl7-bad", tmp_path)
    assert set(_paths(exc2)) == {"agencies[2].options.host", "agencies[2].options.port"}
    # config check can list every agency's option problems without building anything
    issues = options_issues(load_settings(config, state_dir=str(tmp_path)))
    assert {i.path.split(".options")[0] for i in issues} == {"agencies[1]", "agencies[2]"}


def test_bearer_token_comes_from_environment_or_file_never_yaml(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    store = FhirStore(token="synthetic-token-123")
    seed_fhir_store(store, 3)
    child = seeded_patients(3)[0]
    with ThreadedFhirSimulator(store) as sim:
        missing = health_config(tmp_path / "env.yaml", [{"id": "trust", "connector": "fhir", "options": {
            "base_url": sim.base_url, "auth": {"bearer_token_env": "MASHLINK_TEST_NO_SUCH_TOKEN"}}}])
        monkeypatch.delenv("MASHLINK_TEST_NO_SUCH_TOKEN", raising=False)
        with pytest.raises(ConfigError) as exc:
            _build(missing, "trust", tmp_path)
        assert _paths(exc) == {"agencies[0].options.auth.bearer_token_env":
                               "environment variable MASHLINK_TEST_NO_SUCH_TOKEN is not set or empty"}

        secret = tmp_path / "token"
        secret.write_text("synthetic-token-123\n", encoding="utf-8")
        from_file = health_config(tmp_path / "file.yaml", [{"id": "trust", "connector": "fhir", "options": {
            "base_url": sim.base_url, "auth": {"bearer_token_file": str(secret)}}}])
        built = _build(from_file, "trust", tmp_path)
        now = datetime.now(UTC)
        enquiry = Enquiry(enquiry_id="ENQ-T1", referral_id="REF-T1", agency_id="trust", agency_kind=AgencyKind.HEALTH,
                          subjects=[patient_person(child, "child-1")], rag=Rag.GREEN, requested_at=now,
                          due_at=now + timedelta(hours=72), lawful_basis=[LawfulBasis.CHILDREN_ACT_1989_S47],
                          requester="Synthshire MASH")
        (response,) = built.connector.handle(enquiry)
        assert response.status is ResponseStatus.INFORMATION_FOUND
        assert response.matches[0].method is MatchMethod.NHS_NUMBER
        built.start_services()
        built.stop_services()

        monkeypatch.setenv("MASHLINK_TEST_WRONG_TOKEN", "not-the-token")
        wrong = health_config(tmp_path / "wrong.yaml", [{"id": "trust", "connector": "fhir", "options": {
            "base_url": sim.base_url, "auth": {"bearer_token_env": "MASHLINK_TEST_WRONG_TOKEN"}}}])
        from mashlink.connectors.health.fhir_client import FhirAuthError

        with pytest.raises(FhirAuthError):
            _build(wrong, "trust", tmp_path).connector.handle(enquiry)


def test_plugin_path_and_unavailable_plugin(tmp_path: Path) -> None:
    config = health_config(tmp_path / "p.yaml", [
        {"id": "trust-plugin", "connector": "mashlink.connectors.health.wiring:build_hl7v2",
         "options": {"host": "engine", "port": 2575}},
        {"id": "trust-missing", "connector": "no_such_package.connector:factory"},
    ])
    built = _build(config, "trust-plugin", tmp_path)
    assert isinstance(built.connector, Hl7ReferralConnector)
    with pytest.raises(ConnectorUnavailable, match=r"agencies\[1\]\.connector.*no_such_package"):
        _build(config, "trust-missing", tmp_path)


def test_simulated_flag_builds_the_reference_connector(tmp_path: Path) -> None:
    settings = load_settings(EXAMPLE, state_dir=str(tmp_path))
    topology = Topology("tsim")
    ctx = ConnectorContext(settings=settings, agency=settings.agency("synth-trust-hl7"), agency_index=1,
                           topology=topology, simulated=True,
                           broker_factory=connector_broker_factory(settings, "synth-trust-hl7", topology=topology))
    built = build_connector(ctx)
    assert built.description.startswith("simulated") and built.connector.agency_kind is AgencyKind.HEALTH


def test_cli_reports_option_errors_with_the_key_path(tmp_path: Path) -> None:
    config = health_config(tmp_path / "bad.yaml", [
        {"id": "trust-bad", "connector": "fhir", "options": {"base_url": "not a url", "timeout_s": -1}}])
    result = subprocess.run([MASHLINK, "connector", "trust-bad", "--file", str(config)], capture_output=True,
                            timeout=60, env={**os.environ, "MASHLINK_STATE_DIR": str(tmp_path)})
    assert result.returncode == 2
    err = result.stderr.decode()
    assert "agencies[0].options.base_url" in err and "agencies[0].options.timeout_s" in err


def test_adt_listen_spec_option_is_the_spec_the_feed_translates_with(tmp_path: Path) -> None:
    """A trust's own HL7 v2 spec, named in configuration, is what the live ADT listener runs (issue 17)."""
    from mashlink.mapping.paths.hl7_er7 import FastMessage
    from mashlink.connectors.health.hl7_mapping import default_spec_path
    from mashlink.connectors.health.synthetic import adt_message, synthetic_patients
    from mashlink.schemas.codes import RelationshipType

    spec = tmp_path / "trust-adt.yaml"
    spec.write_text(default_spec_path().read_text().replace("    MTH: mother\n", "    MTH: guardian\n"))
    text = EXAMPLE.read_text()
    assert "        port: 2576\n" in text
    config = tmp_path / "health.yaml"
    config.write_text(text.replace("        port: 2576\n", f"        port: 2576\n        spec: {spec}\n", 1))
    listener = _build(config, "synth-trust-fhir", tmp_path).service("adt-listener")
    assert isinstance(listener, AdtListener) and listener.feed.options.spec == spec
    patient = synthetic_patients(1, seed=5)[0]
    event = listener.feed.handle(FastMessage.parse(adt_message(patient, "A04", control_id="OPT00001")))
    assert [r.type for r in event.record.relationships] == [RelationshipType.GUARDIAN]
