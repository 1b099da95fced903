"""Every connector with a match index searches under its agency's ``matching:`` policy.

Why: information-governance staff set identity-matching thresholds per agency
(``AgencyConfig.matching``). Only health honoured them; police, education,
social care and the declared ``records`` channel searched with the defaults,
or with whatever policy an index file from an earlier run held. Each is
checked here where its ``MatchIndex`` is created, reopened from disk, rebuilt
or reloaded, and as ``mashlink connector`` builds it from YAML.
"""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import pytest

import yaml

from mashlink.config.matching import MatchPolicy
from mashlink.connectors.declared_channel import RecordsIndex
from mashlink.connectors.education.index import PupilIndex
from mashlink.connectors.police.schema import EXAMPLES_DIR
from mashlink.connectors.police.store import PoleStore
from mashlink.connectors.police.wiring import PoleSource, ReloadingPoliceConnector
from mashlink.connectors.social_care.index import SocialCareIndex
from mashlink.matching.index import MatchIndex
from mashlink.schemas.codes import AgencyKind
from mashlink.schemas.record import AgencyRecord

from tests.channels.test_yaml_only_agency import build as build_records_agency
from tests.channels.test_yaml_only_agency import housing_config, settings_for as records_settings_for
from tests.matching.test_connectors_shared_matcher import LA, finding, person, sc_record, source
from tests.wiring.helpers import build, settings_for, write_config

CONFIGURED = MatchPolicy(review=0.3, review_household=0.6, auto_match=0.999)
OTHER = MatchPolicy(review=0.2, review_household=0.5, auto_match=0.998)
STRICT = MatchPolicy(review=0.95, review_household=0.97, auto_match=0.999)
MATCHING_BLOCK = {"review": 0.3, "review_household": 0.6, "auto_match": 0.999}
POLE_EXAMPLE = EXAMPLES_DIR / "pole-example.json"


def _children() -> list[AgencyRecord]:
    """Made-up children: two near-namesakes and two others."""
    return [sc_record("LA1", person("sc-a", "Amelia", "Marsh", date(2016, 4, 9), sex="female")),
            sc_record("LA2", person("sc-b", "Amelie", "Marsh", date(2016, 9, 4), sex="female", postcode="ZY7 1QQ")),
            sc_record("LA3", person("sc-c", "Ameila", "Marshall", date(2015, 4, 9), sex="female", postcode=None)),
            sc_record("LA4", person("sc-d", "Mia", "Marsh", date(2016, 4, 19), sex="female", postcode="ZY2 2BB"))]


def _pupils() -> list[AgencyRecord]:
    return [AgencyRecord(source=source(AgencyKind.EDUCATION, r.source.record_id), person=r.person,
                         findings=[finding(AgencyKind.EDUCATION, r.source.record_id, r.person.person_id)])
            for r in _children()]


def _replace_with_empty_default_index(match_path: Path) -> None:
    """An index file from an older run: empty, holding the default policy (so the connector must rebuild it)."""
    for suffix in ("", "-wal", "-shm"):
        match_path.with_name(match_path.name + suffix).unlink(missing_ok=True)
    MatchIndex.create(match_path).close()


# ----------------------------------------------------------------------------- police

def test_pole_store_searches_under_the_given_policy_and_defaults_without_one() -> None:
    records = _children()
    assert PoleStore(records, policy=CONFIGURED).match_policy == CONFIGURED
    assert PoleStore(records).match_policy == MatchPolicy.default()


def test_pole_source_gives_every_loaded_store_the_policy() -> None:
    source_ = PoleSource([POLE_EXAMPLE], policy=CONFIGURED)
    first, _ = source_.load()
    again, _ = source_.load()  # what a reload does
    assert len(first) > 0
    assert first.match_policy == CONFIGURED and again.match_policy == CONFIGURED


def test_pole_wiring_passes_the_agency_matching_block_through_reloads(tmp_path: Path) -> None:
    exports = tmp_path / "state" / "police"
    exports.mkdir(parents=True)
    export = Path(shutil.copy(POLE_EXAMPLE, exports / "force.json"))
    config = write_config(tmp_path / "c.yaml", [{"id": "police-x", "kind": "police", "connector": "pole",
                                                 "matching": MATCHING_BLOCK,
                                                 "options": {"exports": ["police"]}}])
    connector = build(settings_for(config, tmp_path / "state"), "police-x").connector
    assert isinstance(connector, ReloadingPoliceConnector)
    assert connector.store.match_policy == CONFIGURED
    stat = export.stat()
    os.utime(export, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # the export was rewritten
    assert connector.refresh().reloaded and connector.reloads == 1
    assert connector.store.match_policy == CONFIGURED


# ----------------------------------------------------------------------------- education

def test_pupil_index_takes_the_configured_policy_when_created_reopened_and_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "edu" / "index.sqlite3"
    index = PupilIndex(path, policy=CONFIGURED)
    assert index.matcher.policy == CONFIGURED
    assert index.add_file("a" * 64, "pupils.xml", _pupils(), 0)
    index.close()

    # Reopened after the agency's thresholds changed: the configured policy, not the file's.
    index = PupilIndex(path, policy=OTHER)
    assert index.matcher.policy == OTHER
    index.close()
    assert MatchIndex.open(index.match_path).policy == OTHER  # persisted, not only in memory

    # An out-of-date index file holding the default policy is rebuilt under the configured one.
    _replace_with_empty_default_index(index.match_path)
    index = PupilIndex(path, policy=CONFIGURED)
    try:
        assert index.matcher.policy == CONFIGURED
        assert len(index.matcher) >= 4
    finally:
        index.close()


def test_pupil_index_without_a_policy_keeps_the_defaults_or_the_stored_policy(tmp_path: Path) -> None:
    """A command-line run with no agency configuration neither imposes the defaults on an agency's
    index nor rewrites its stored thresholds."""
    index = PupilIndex(tmp_path / "index.sqlite3")
    try:
        assert index.matcher.policy == MatchPolicy.default()
    finally:
        index.close()
    PupilIndex(tmp_path / "index.sqlite3", policy=CONFIGURED).close()
    index = PupilIndex(tmp_path / "index.sqlite3")
    try:
        assert index.matcher.policy == CONFIGURED
    finally:
        index.close()
    with MatchIndex.open(index.match_path) as stored:
        assert stored.policy == CONFIGURED


@pytest.mark.parametrize(("agency_id", "kind", "connector_name"),
                         [("edu-x", "education", "ctf"), ("csc-x", "social_care", "cin")])
def test_index_wiring_passes_the_agency_matching_block(tmp_path: Path, agency_id: str, kind: str,
                                                       connector_name: str) -> None:
    """Education (CTF) and social care (CIN) connectors built from YAML search under its matching: block."""
    config = write_config(tmp_path / "c.yaml", [{"id": agency_id, "kind": kind, "connector": connector_name,
                                                 "matching": MATCHING_BLOCK, "options": {}}])
    connector = build(settings_for(config, tmp_path / "state"), agency_id).connector
    try:
        assert connector.index.matcher.policy == CONFIGURED
    finally:
        connector.index.close()


# ----------------------------------------------------------------------------- social care

def test_social_care_index_takes_the_configured_policy_when_created_reopened_and_rebuilt(tmp_path: Path) -> None:
    index = SocialCareIndex(tmp_path / "sc", la_code=LA, policy=CONFIGURED)
    assert index.matcher.policy == CONFIGURED
    index.add_records(_children(), "cin", "children.xml")
    index.close()

    index = SocialCareIndex(tmp_path / "sc", la_code=LA, policy=OTHER)
    assert index.matcher.policy == OTHER
    index.close()

    _replace_with_empty_default_index(index.match_path)
    index = SocialCareIndex(tmp_path / "sc", la_code=LA, policy=CONFIGURED)
    try:
        assert index.matcher.policy == CONFIGURED
        assert set(index.matcher.record_ids()) >= {f"{LA}:LA{n}" for n in range(1, 5)}
    finally:
        index.close()


def test_a_stricter_configured_review_hides_a_candidate_the_default_shows(tmp_path: Path) -> None:
    """Behaviour, not only the stored value: the reopened index decides under the configured threshold."""
    subject = person("s1", "Amelia", "Thornbury", date(2016, 4, 9), sex="female", postcode=None)
    index = SocialCareIndex(tmp_path / "sc", la_code=LA)
    index.add_records(_children(), "cin", "children.xml")
    default_shown = {r.record_id: r.pair.probability for r in index.matcher.search(subject).results}
    index.close()
    # Amelie Marsh is shown at the default review (0.10) with a probability under 0.95.
    assert f"{LA}:LA2" in default_shown and default_shown[f"{LA}:LA2"] < STRICT.review
    assert default_shown[f"{LA}:LA1"] >= STRICT.review

    index = SocialCareIndex(tmp_path / "sc", la_code=LA, policy=STRICT)
    try:
        strict_shown = {r.record_id for r in index.matcher.search(subject).results}
    finally:
        index.close()
    assert f"{LA}:LA2" not in strict_shown and f"{LA}:LA1" in strict_shown


# ----------------------------------------------------------------------------- declared records channel

def test_records_index_builds_every_generation_under_the_policy(tmp_path: Path) -> None:
    index = RecordsIndex(tmp_path / "records.match.sqlite3", policy=CONFIGURED)
    try:
        index.replace(_children())
        assert index._matcher is not None and index._matcher.policy == CONFIGURED
        index.replace(_children()[:2])  # a reload swaps in a freshly built index
        assert index._matcher.policy == CONFIGURED and len(index) == 2
    finally:
        index.close()
    plain = RecordsIndex(tmp_path / "plain.match.sqlite3")
    try:
        plain.replace(_children())
        assert plain._matcher is not None and plain._matcher.policy == MatchPolicy.default()
    finally:
        plain.close()


def test_records_channel_wiring_passes_the_agency_matching_block(tmp_path: Path) -> None:
    config = housing_config(tmp_path)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["agencies"][0]["matching"] = MATCHING_BLOCK
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    connector = build_records_agency(records_settings_for(config, tmp_path)).connector
    matcher = connector.index._matcher
    try:
        assert matcher is not None and matcher.policy == CONFIGURED
    finally:
        connector.index.close()
