"""Settings: the default file, environment-over-YAML precedence, and precise errors."""

from __future__ import annotations

import copy
from pathlib import Path

import json

import pytest
from pydantic import ValidationError

from mashlink.config import ConfigError, SharingPolicy, load_settings
from mashlink.config.settings import DEV_KEY_PREFIX, default_config_path
from mashlink.config.signing import SignerKey, public_entry
from mashlink.config.subject_fields import (
    _FALLBACK_IDENTIFIER_SYSTEMS,
    _FALLBACK_PERSON_FIELDS,
    IDENTIFIER_SYSTEMS,
    PERSON_FIELDS,
)
from mashlink.schemas.codes import STATUTORY_AGENCY_KINDS, AgencyKind, FindingCategory, Rag, Sensitivity
from tests.production_support import production_signing

HUB_KEY = SignerKey.from_secret("hub", b"a-real-secret-from-the-vault", key_id="hub-vault-1")


def test_default_file_loads_with_one_agency_per_kind() -> None:
    settings = load_settings()
    assert settings.config_file == default_config_path()
    assert sorted(a.kind for a in settings.agencies) == sorted(STATUTORY_AGENCY_KINDS)
    assert settings.broker_url == "memory://"
    assert settings.database_url == "sqlite:///.mashlink/hub.sqlite"
    assert settings.local_authority.code == "999"
    assert settings.warnings() == []
    for agency in settings.agencies:
        assert settings.policy_for(agency.id) is settings.sharing_policies[agency.id]
        assert settings.signing_key(agency.id).startswith(DEV_KEY_PREFIX.encode())


def test_default_policies_follow_the_golden_rules() -> None:
    settings = load_settings()
    by_kind = {a.kind: settings.policy_for(a.id) for a in settings.agencies}
    education = by_kind[AgencyKind.EDUCATION]
    assert not education.receives_police_intelligence
    assert not any(c.agency_kind is AgencyKind.POLICE for c in education.finding_categories)
    assert education.allows_identifier("upn") and not education.allows_identifier("nhs_number")
    assert {"names", "birth_date", "addresses"} <= education.subject_fields
    for kind, policy in by_kind.items():
        sensitive = policy.allows_sensitivity(Sensitivity.MENTAL_HEALTH) or policy.allows_sensitivity("sexual_health")
        assert sensitive == (kind is AgencyKind.SOCIAL_CARE), kind
    assert by_kind[AgencyKind.SOCIAL_CARE].allows_identifier("nhs_number")  # bare "identifiers" = all


def test_two_example_local_authorities() -> None:
    rag = load_settings().rag
    assert [rag["999"].for_rag(r).hours for r in Rag] == [4, 24, 72]
    assert [rag["998"].for_rag(r).hours for r in Rag] == [2, 6, 24]
    assert rag["999"].red.out_of_hours and not rag["999"].amber.out_of_hours


def test_environment_overrides_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASHLINK_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    monkeypatch.setenv("MASHLINK_SIGNING__PRIVATE_KEY", HUB_KEY.text())
    monkeypatch.setenv("MASHLINK_RAG__999__AMBER__HOURS", "20")
    monkeypatch.setenv("MASHLINK_CALENDAR__DAY_START", "08:30")
    monkeypatch.setenv("MASHLINK_HUB_HTTP_PORT", "9090")
    settings = load_settings()
    assert settings.broker_url.startswith("amqp://")
    assert settings.signer_key("hub").key_id == HUB_KEY.key_id
    assert settings.signing_key("hub") == HUB_KEY.local_secret()
    # nested override merges: the freshness window still comes from the YAML file
    assert settings.signing.max_age_s == 7 * 86_400
    assert settings.signing_key("police-synth").startswith(DEV_KEY_PREFIX.encode())
    assert settings.rag["999"].amber.hours == 20 and settings.rag["999"].green.hours == 72
    assert settings.calendar.day_start.hour == 8 and settings.calendar.day_end.hour == 17
    assert settings.hub_http_port == 9090
    # dev keys for the agencies, with a real broker: warned about
    assert any("development signing keys" in w for w in settings.warnings())


def test_agency_key_settable_from_a_shell_with_underscores(monkeypatch: pytest.MonkeyPatch) -> None:
    # "social-care-synth" cannot be part of an exported variable name; underscores stand in for hyphens.
    social = SignerKey.from_secret("social-care-synth", b"social-care-secret-from-the-vault", key_id="sc-1")
    monkeypatch.setenv("MASHLINK_SIGNING__PUBLIC_KEYS__SOCIAL_CARE_SYNTH", json.dumps([public_entry(social)]))
    settings = load_settings()
    assert [k.key_id for k in settings.verifier_keys("social-care-synth")] == ["sc-1"]
    assert "social_care_synth" not in settings.signing.public_keys
    assert settings.signing_key("police-synth").startswith(DEV_KEY_PREFIX.encode())


def test_underscored_key_for_no_known_agency_is_still_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASHLINK_SIGNING__PUBLIC_KEYS__NOBODY_HERE", json.dumps([public_entry(HUB_KEY)]))
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "nobody_here" in str(info.value)


def test_old_hmac_keys_are_refused_naming_the_setting_and_what_replaces_them(
        monkeypatch: pytest.MonkeyPatch, default_data: dict, write_config) -> None:
    data = copy.deepcopy(default_data)
    data["signing_keys"] = {"hub": "an-old-hmac-secret-01234x56789"}
    with pytest.raises(ConfigError) as info:
        load_settings(write_config(data, "old.yaml"))
    [issue] = info.value.issues
    assert issue.path == "signing_keys" and "mashlink keys generate SENDER" in issue.rule
    assert "signing.private_key" in issue.rule and "an-old-hmac-secret" not in str(info.value)
    monkeypatch.setenv("MASHLINK_SIGNING_KEYS__HUB", "an-old-hmac-secret-01234x56789")
    with pytest.raises(ConfigError) as info:
        load_settings()
    [issue] = info.value.issues
    assert issue.origin == "environment MASHLINK_SIGNING_KEYS__HUB" and "MASHLINK_SIGNING__PRIVATE_KEY" in issue.rule


def test_overrides_beat_environment_and_unrelated_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASHLINK_HUB_HTTP_PORT", "9090")
    monkeypatch.setenv("MASHLINK_REQUIRE_SERVICES", "1")  # read by the test suite, not a setting
    assert load_settings(hub_http_port=7000).hub_http_port == 7000


def test_config_file_from_environment_and_argument(
    monkeypatch: pytest.MonkeyPatch, default_data: dict, write_config
) -> None:
    env_data = copy.deepcopy(default_data)
    env_data["hub_http_port"] = 8111
    arg_data = copy.deepcopy(default_data)
    arg_data["hub_http_port"] = 8222
    env_file = write_config(env_data, "from-env.yaml")
    arg_file = write_config(arg_data, "from-arg.yaml")
    monkeypatch.setenv("MASHLINK_CONFIG", str(env_file))
    assert load_settings().hub_http_port == 8111
    assert load_settings().config_file == env_file
    assert load_settings(arg_file).hub_http_port == 8222


def test_database_defaults_into_state_dir_created_lazily(tmp_path: Path) -> None:
    state = tmp_path / "state"
    settings = load_settings(state_dir=state)
    assert settings.database_url == f"sqlite:///{(state / 'hub.sqlite').as_posix()}"
    assert not state.exists()
    assert settings.ensure_state_dir() == state and state.is_dir()


def test_secrets_never_printed() -> None:
    signing = production_signing("hub")
    settings = load_settings(signing=signing, broker_url="amqp://mash:hunter2hunter2@rabbit//")
    seed = signing["private_key"].rsplit(":", 1)[1]
    dumped = repr(settings.masked_dump()) + repr(settings) + str(settings)
    assert seed not in dumped and "hunter2" not in dumped
    assert settings.masked_dump()["broker_url"] == "amqp://mash:****@rabbit//"
    assert settings.warnings() == []  # real keys: nothing to warn about


def test_settings_are_immutable() -> None:
    settings = load_settings()
    with pytest.raises(ValidationError):
        settings.broker_url = "amqp://x"  # type: ignore[misc]


def test_subject_field_fallback_lists_match_the_schema() -> None:
    # The fallbacks are used only if the schema cannot be imported; keep them in step.
    assert PERSON_FIELDS == _FALLBACK_PERSON_FIELDS
    assert IDENTIFIER_SYSTEMS == _FALLBACK_IDENTIFIER_SYSTEMS


def test_all_categories_never_includes_police_without_police_intelligence() -> None:
    policy = SharingPolicy.model_validate({"subject_fields": ["names"], "finding_categories": "all"})
    assert FindingCategory.SOCIAL_CARE_REFERRAL in policy.finding_categories
    assert not policy.allows_category(FindingCategory.POLICE_ARREST_CHARGE)
    police = SharingPolicy.model_validate(
        {"subject_fields": ["names"], "finding_categories": "all", "receives_police_intelligence": True}
    )
    assert police.allows_category("police.arrest_charge")


def test_policy_for_unknown_agency_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="no sharing policy for agency 'nobody'"):
        load_settings().policy_for("nobody")


# -- invalid configuration: file, key path and rule named ------------------------------

def _agency(data: dict, agency_id: str) -> dict:
    return next(a for a in data["agencies"] if a["id"] == agency_id)


def _break_kind(d: dict) -> None:
    d["agencies"][2]["kind"] = "fire_service"


def _duplicate_id(d: dict) -> None:
    d["agencies"][1]["id"] = d["agencies"][0]["id"]


def _unknown_policy(d: dict) -> None:
    d["sharing_policies"]["ghost-agency"] = {"subject_fields": ["names"]}


def _missing_policy(d: dict) -> None:
    del d["sharing_policies"]["health-synth"]


def _bad_field(d: dict) -> None:
    d["sharing_policies"]["education-synth"]["subject_fields"].append("birthdate")


def _bad_identifier(d: dict) -> None:
    d["sharing_policies"]["education-synth"]["subject_fields"].append("identifiers.passport")


def _police_to_education(d: dict) -> None:
    d["sharing_policies"]["education-synth"]["finding_categories"].append("police.warning_marker")


def _restricted_without_intel(d: dict) -> None:
    d["sharing_policies"]["health-synth"]["sensitivities"].append("police_restricted")


def _unknown_sensitivity(d: dict) -> None:
    d["sharing_policies"]["health-synth"]["sensitivities"].append("very_secret")


def _rag_order(d: dict) -> None:
    d["rag"]["998"]["red"]["hours"] = 30


def _rag_fraction(d: dict) -> None:
    d["rag"]["999"]["at_risk_fraction"] = 1.5


def _typo_key(d: dict) -> None:
    d["agencies"][0]["conector"] = "reference"


def _bad_zone(d: dict) -> None:
    d["calendar"]["timezone"] = "Europe/Londn"


def _day_order(d: dict) -> None:
    d["calendar"]["day_start"] = "18:00"


def _bad_region(d: dict) -> None:
    d["calendar"]["bank_holidays"] = "wales-only"


def _bad_closure(d: dict) -> None:
    d["calendar"]["closures"] = ["2026-12-31/2026-12-29"]


def _unknown_connector(d: dict) -> None:
    _agency(d, "health-synth")["connector"] = "fihr"


def _connector_kind(d: dict) -> None:
    _agency(d, "police-synth")["connector"] = "ctf"


def _short_key(d: dict) -> None:
    d["signing"]["public_keys"]["hub"] = [{**public_entry(HUB_KEY), "public_key": "c2hvcnQta2V5LW5vdC0zMi1ieXRlcy1sb25nLi4u"}]


def _backwards_key(d: dict) -> None:
    d["signing"]["public_keys"]["police-synth"] = [
        {**public_entry(HUB_KEY), "not_before": "2026-12-07T00:00:00Z", "not_after": "2026-12-01T00:00:00Z"}]


def _stray_key(d: dict) -> None:
    d["signing"]["public_keys"]["stranger"] = [public_entry(HUB_KEY)]


def _la_without_rag(d: dict) -> None:
    d["local_authority"]["code"] = "123"


def _bad_broker(d: dict) -> None:
    d["broker_url"] = "redis://localhost"


def _bad_slug(d: dict) -> None:
    d["agencies"][3]["id"] = "Social Care!"


def _bad_port(d: dict) -> None:
    d["hub_http_port"] = 70000


INVALID = [
    (_break_kind, "agencies[2].kind", "Input should be 'police'"),
    (_duplicate_id, "agencies[1].id", "duplicate agency id 'police-synth'"),
    (_unknown_policy, "sharing_policies.ghost-agency", "policy for unknown agency"),
    (_missing_policy, "agencies[1].id", "no entry in sharing_policies"),
    (_bad_field, "sharing_policies.education-synth.subject_fields", "'birthdate' is not a canonical Person field"),
    (_bad_identifier, "sharing_policies.education-synth.subject_fields", "unknown identifier system 'passport'"),
    (_police_to_education, "sharing_policies.education-synth", "receives_police_intelligence is false"),
    (_restricted_without_intel, "sharing_policies.health-synth", "police_restricted"),
    (_unknown_sensitivity, "sharing_policies.health-synth.sensitivities[1]", "Input should be 'standard'"),
    (_rag_order, "rag.998", "must not decrease from red to amber to green"),
    (_rag_fraction, "rag.999.at_risk_fraction", "less than 1"),
    (_typo_key, "agencies[0].conector", "unknown key"),
    (_bad_zone, "calendar.timezone", "unknown IANA time zone"),
    (_day_order, "calendar", "must be after day_start"),
    (_bad_region, "calendar.bank_holidays", "unknown region 'wales-only'"),
    (_bad_closure, "calendar.closures", "must run forwards"),
    (_unknown_connector, "agencies[1].connector", "unknown connector"),
    (_connector_kind, "agencies[0].connector", "serves education agencies, not police"),
    (_short_key, "signing.public_keys.hub[0].public_key", "32-byte Ed25519 public key"),
    (_backwards_key, "signing.public_keys.police-synth[0]", "not_after must be later than not_before"),
    (_stray_key, "signing.public_keys.stranger", "unknown sender 'stranger'"),
    (_la_without_rag, "rag", "no timescales for the served local authority '123'"),
    (_bad_broker, "broker_url", "must be memory://"),
    (_bad_slug, "agencies[3].id", "should match pattern"),
    (_bad_port, "hub_http_port", "less than or equal to 65535"),
]


@pytest.mark.parametrize(("breaker", "key_path", "rule"), INVALID, ids=[b.__name__ for b, _, _ in INVALID])
def test_invalid_config_names_file_key_and_rule(default_data: dict, write_config, breaker, key_path, rule) -> None:
    breaker(default_data)
    path = write_config(default_data)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert str(path) in message
    assert any(i.path == key_path and rule in i.rule for i in caught.value.issues), message
    line = next(i for i in caught.value.issues if i.path == key_path)
    if key_path not in ("rag", "signing.public_keys.stranger", "signing.public_keys.hub[0].public_key",
                        "signing.public_keys.police-synth[0]"):  # sections the shipped file leaves empty
        assert line.origin.startswith(f"{path.name}:"), message
    assert "Traceback" not in message


def test_secret_values_are_not_echoed_in_errors(default_data: dict, write_config) -> None:
    default_data["signing"]["private_key"] = "ed25519:hub:hub-1:tiny-and-secret"
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(default_data))
    assert "tiny-and-secret" not in str(caught.value)
    assert "signing.private_key" in str(caught.value)


def test_every_error_is_listed_at_once(default_data: dict, write_config) -> None:
    _break_kind(default_data)
    _unknown_policy(default_data)
    _bad_zone(default_data)
    _duplicate_id(default_data)
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(default_data))
    paths = {i.path for i in caught.value.issues}
    assert {"agencies[2].kind", "sharing_policies.ghost-agency", "calendar.timezone", "agencies[1].id"} <= paths
    assert f"({len(caught.value.issues)} errors)" in str(caught.value)


def test_line_numbers_point_at_the_offending_key(write_config, default_data: dict) -> None:
    text = default_config_path().read_text(encoding="utf-8").replace(
        'timezone: "Europe/London"', 'timezone: "Mars/Olympus"'
    )
    path = write_config(text)
    expected_line = text.splitlines().index('  timezone: "Mars/Olympus"') + 1
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert f"calendar.timezone ({path.name}:{expected_line})" in str(caught.value)


def test_yaml_syntax_error_names_line(write_config) -> None:
    path = write_config("broker_url: memory://\nagencies: [\n  - id: x\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert "YAML syntax error" in str(caught.value) and "line " in str(caught.value)
    assert str(path) in str(caught.value)


def test_document_must_be_a_mapping(write_config) -> None:
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_settings(write_config("- just\n- a list\n"))


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_settings(missing)
    assert str(missing) in str(caught.value) and "not found" in str(caught.value)


def test_bad_environment_value_is_attributed_to_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASHLINK_HUB_HTTP_PORT", "eighty")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    issue = caught.value.issues[0]
    assert issue.path == "hub_http_port" and issue.origin == "environment MASHLINK_HUB_HTTP_PORT"


def test_unparseable_environment_json_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASHLINK_AGENCIES", "[not json")
    with pytest.raises(ConfigError, match="MASHLINK_AGENCIES|agencies"):
        load_settings()


def test_unquoted_la_codes_are_read_as_codes(default_data: dict, write_config) -> None:
    text = default_config_path().read_text(encoding="utf-8").replace('  "998":', "  998:")
    settings = load_settings(write_config(text))
    assert "998" in settings.rag


def test_sensitive_health_outside_social_care_is_a_warning(default_data: dict, write_config) -> None:
    default_data["sharing_policies"]["health-synth"]["sensitivities"].append("mental_health")
    settings = load_settings(write_config(default_data))
    assert any("health-synth" in w and "mental_health" in w for w in settings.warnings())
