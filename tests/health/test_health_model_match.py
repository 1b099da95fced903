"""Health's trained model: weights trained on a health extract, named in ``matching.model``, used by the connector.

A trust is searched live, so the connector has no index of its own to train
on. Council IT builds one from a health extract (`mashlink match index
build fhir ...`, trained by default), names it in the agency's `matching:`
block, and the FHIR and HL7 v2 connectors score every patient the trust
returns with those weights. A missing or unusable file stops the connector at
start with the key named.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mashlink.config.errors import ConfigError
from mashlink.connectors.health.fhir_client import FhirClient, FhirClientSettings
from mashlink.connectors.health.fhir_connector import FhirConnectorOptions, FhirSearchConnector
from mashlink.connectors.health.fhir_simulator import FhirStore, ThreadedFhirSimulator, seed_patient
from mashlink.connectors.health.hl7_connector import Hl7ReferralConnector
from mashlink.connectors.health.hl7_peer import SyntheticTrustPeer
from mashlink.connectors.health.mllp import ThreadedMllpServer
from mashlink.connectors.health.synthetic import patient_person, synthetic_patients
from mashlink.matching.index import MatchIndex
from mashlink.matching.model import MatchModel
from mashlink.matching.model_file import ModelFileError, load_trained_weights
from mashlink.schemas.codes import ResponseStatus

from .conftest import health_config
from .test_health_connector_options import _build
from .test_health_unborn_match import _unborn_enquiry

MASHLINK = str(Path(sys.executable).with_name("mashlink"))
EXTRACT = synthetic_patients(600, seed=1616)  # with their mothers 1,200 people: enough to train
CHILD = EXTRACT[0]


def _bundle(path: Path) -> Path:
    """A health extract as council IT would get it: the trust's Patients as one FHIR Bundle."""
    store = FhirStore()
    for p in EXTRACT:
        seed_patient(store, p)
    entries = [{"resource": r} for r in store.resources["Patient"].values()]
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index built and trained with the command council IT runs."""
    tmp = tmp_path_factory.mktemp("health-model")
    db = tmp / "health-index.db"
    run = subprocess.run([MASHLINK, "match", "index", "build", "fhir", str(_bundle(tmp / "extract.json")),
                          "--db", str(db)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return db


def _weak_dates_model(path: Path) -> Path:
    """A model that believes an exact date of birth is common among strangers (different weights)."""
    base = MatchModel.default()
    fields = base.model_dump()["fields"]
    fields["dob"]["exact"]["u"] = 0.2
    path.write_text(MatchModel.model_validate({**base.model_dump(), "fields": fields}).model_dump_json(),
                    encoding="utf-8")
    return path


def _agency(kind: str, port: int, model: Path | None, base_url: str = "") -> dict[str, Any]:
    options: dict[str, Any] = ({"base_url": base_url} if kind == "fhir" else {"host": "127.0.0.1", "port": port})
    agency: dict[str, Any] = {"id": f"trust-{kind}", "connector": "fhir" if kind == "fhir" else "hl7v2",
                              "options": {**options, "events": {"channel": "fhir" if kind == "fhir" else "hl7v2",
                                                                 "enabled": False}}}
    if model is not None:
        agency["matching"] = {"model": str(model)}
    return agency


# ----------------------------------------------------------------------------- loading


def test_the_trained_index_is_loaded_with_its_weights_and_term_frequencies(trained_index: Path) -> None:
    weights = load_trained_weights(trained_index)
    with MatchIndex.open(trained_index) as index:
        assert weights.model == index.model
        assert index.trained and weights.model != MatchModel.default()
    assert weights.term_frequencies is not None and weights.term_frequencies.total("family") > 0


def test_model_file_errors_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="no such file"):
        load_trained_weights(tmp_path / "absent.db")
    (tmp_path / "junk.bin").write_bytes(b"\x00\x01 not a model")
    with pytest.raises(ModelFileError, match="neither a match index nor a MatchModel"):
        load_trained_weights(tmp_path / "junk.bin")
    (tmp_path / "partial.json").write_text('{"prior": 0.001, "fields": {}}', encoding="utf-8")
    with pytest.raises(ModelFileError, match="is not a MatchModel"):
        load_trained_weights(tmp_path / "partial.json")
    MatchIndex.create(tmp_path / "untrained.db").close()
    with pytest.raises(ModelFileError, match="no trained weights"):
        load_trained_weights(tmp_path / "untrained.db")


# ----------------------------------------------------------------------------- configuration -> connector


def test_configured_model_is_the_one_the_fhir_connector_scores_with(tmp_path: Path, trained_index: Path) -> None:
    store = FhirStore()
    seed_patient(store, CHILD)
    with ThreadedFhirSimulator(store) as server:
        config = health_config(tmp_path / "c.yaml", [_agency("fhir", 0, trained_index, server.base_url)])
        built = _build(config, "trust-fhir", tmp_path)
        connector = built.connector
        assert isinstance(connector, FhirSearchConnector)
        with MatchIndex.open(trained_index) as index:
            assert connector.scorer.model == index.model
        subject = patient_person(CHILD, "child-1").model_copy(update={"identifiers": []})
        trained, _found, _n = connector.search_subject(subject)
        with FhirClient(FhirClientSettings(base_url=server.base_url, timeout=10)) as client:
            default = FhirSearchConnector("trust-fhir", client, FhirConnectorOptions())
            weak = FhirSearchConnector("trust-fhir", client, FhirConnectorOptions(),
                                       weights=load_trained_weights(_weak_dates_model(tmp_path / "weak.json")))
            by_default, _f, _n = default.search_subject(subject)
            by_weak, _f, _n = weak.search_subject(subject)
        for built_service in built.services:
            built_service.stop()
    probabilities = [o.results[0].pair.probability for o in (trained, by_default, by_weak)]
    assert len(set(probabilities)) == 3  # each set of weights gives its own probability
    dob = [o.results[0].pair.contribution("dob").weight for o in (by_default, by_weak)]
    assert dob[1] < dob[0]  # the weak-dates model counts the same exact date for less


def test_configured_model_reaches_the_hl7_re_check(tmp_path: Path) -> None:
    """Weights that make every link implausible (a prior of 1e-30) leave the trust's link a candidate."""
    sceptic = tmp_path / "sceptic.json"
    sceptic.write_text(MatchModel.default().model_copy(update={"prior": 1e-30}).model_dump_json(), encoding="utf-8")
    mother = replace(CHILD, sex="F")
    peer = SyntheticTrustPeer([mother])
    with ThreadedMllpServer(peer) as srv:
        outcomes = {}
        for name, model in (("default", None), ("sceptic", sceptic)):
            config = health_config(tmp_path / f"{name}.yaml", [_agency("hl7", srv.port, model)])
            connector = _build(config, "trust-hl7", tmp_path).connector
            assert isinstance(connector, Hl7ReferralConnector)
            [response] = connector.handle(_unborn_enquiry(patient_person(mother, "mother-1")))
            assert response.status is ResponseStatus.INFORMATION_FOUND
            outcomes[name] = {m.subject_person_id: m.candidate for m in response.matches}
    assert outcomes["default"] == {"unborn-1": False, "mother-1": False}
    assert outcomes["sceptic"] == {"unborn-1": True, "mother-1": True}


@pytest.mark.parametrize("content, rule", [
    (None, "no such file"),
    (b"garbage", "neither a match index nor a MatchModel"),
])
def test_an_unusable_model_stops_the_connector_naming_the_key(tmp_path: Path, content: bytes | None,
                                                               rule: str) -> None:
    model = tmp_path / "model.db"
    if content is not None:
        model.write_bytes(content)
    for kind in ("fhir", "hl7"):
        config = health_config(tmp_path / f"{kind}.yaml",
                               [_agency(kind, 2575, model, "http://127.0.0.1:9/fhir")])
        with pytest.raises(ConfigError) as exc:
            _build(config, f"trust-{kind}", tmp_path)
        [issue] = exc.value.issues
        assert issue.path == "agencies[0].matching.model" and rule in issue.rule
