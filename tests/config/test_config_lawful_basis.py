"""Lawful-basis rules as configuration: defaults, YAML overrides, and errors that name the bad code."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from mashlink.config import ConfigError, load_settings
from mashlink.config.lawful_basis import (
    BasisRequirement,
    LawfulBasisRules,
    default_agency_kind_rules,
    default_purpose_rules,
)
from mashlink.config.settings import default_config_path
from mashlink.schemas.codes import AgencyKind, LawfulBasis as LB, Purpose

#: The DPA 2018 Schedule 1 condition each UK GDPR Art 9 condition needs (s10(2), s10(3)).
ART9_PAIRS = {LB.UK_GDPR_9_2_G: LB.DPA_2018_SCH1_PARA18, LB.UK_GDPR_9_2_H: LB.DPA_2018_SCH1_PARA2}


def commented_example() -> dict:
    """The commented ``lawful_basis_rules`` example in config/mashlink.yaml (up to the next blank line), uncommented."""
    text = default_config_path().read_text(encoding="utf-8")
    block = text[text.index("# lawful_basis_rules:"):]
    block = block.split("\n\n", 1)[0]
    return yaml.safe_load("\n".join(line.removeprefix("#").removeprefix(" ") for line in block.splitlines()))


def test_packaged_settings_use_the_documented_defaults() -> None:
    rules = load_settings().lawful_basis_rules
    assert rules == LawfulBasisRules()
    assert set(rules.agency_kinds) == set(AgencyKind)
    assert {r.rule for r in rules.for_kind(AgencyKind.POLICE)} == {"statutory_gateway", "dpa_part_3"}
    for kind in (AgencyKind.HEALTH, AgencyKind.EDUCATION, AgencyKind.SOCIAL_CARE):
        assert {r.rule for r in rules.for_kind(kind)} == {"statutory_gateway", "article_6", "special_category"}
    assert rules.for_purpose(Purpose.MASH_SCREENING) == []
    assert rules.for_purpose(Purpose.SECTION_47_ENQUIRY)[0].any_of == [[LB.CHILDREN_ACT_1989_S47]]


def test_defaults_keep_article_9_with_its_schedule_1_condition() -> None:
    for kind, requirements in default_agency_kind_rules().items():
        for requirement in requirements:
            for alternative in requirement.any_of:
                for art9, sch1 in ART9_PAIRS.items():
                    if art9 in alternative:
                        assert sch1 in alternative, (kind, requirement.rule, alternative)
    police = {code for r in default_agency_kind_rules()[AgencyKind.POLICE] for a in r.any_of for code in a}
    assert {LB.DPA_2018_S35, LB.DPA_2018_SCH8_PARA4} <= police
    assert not police & set(ART9_PAIRS), "police data goes by DPA 2018 Part 3, not UK GDPR Art 9"


def test_commented_yaml_example_is_valid_and_overrides_only_what_it_names(write_config, default_data) -> None:
    example = commented_example()
    settings = load_settings(write_config({**default_data, **example}))
    rules = settings.lawful_basis_rules
    assert rules.for_kind(AgencyKind.HEALTH)[2].any_of == [[LB.UK_GDPR_9_2_G, LB.DPA_2018_SCH1_PARA18]]
    assert rules.for_kind(AgencyKind.POLICE) == default_agency_kind_rules()[AgencyKind.POLICE]
    assert rules.for_purpose(Purpose.EARLY_HELP) == []
    assert rules.for_purpose(Purpose.SECTION_17_ASSESSMENT) == default_purpose_rules()[Purpose.SECTION_17_ASSESSMENT]


def test_a_single_code_is_a_one_code_alternative() -> None:
    requirement = BasisRequirement.model_validate(
        {"rule": "x", "need": "y", "any_of": ["uk_gdpr_art6_1_e", ["uk_gdpr_art9_2_g", "dpa2018_sch1_para18"]]})
    assert requirement.any_of == [[LB.UK_GDPR_6_1_E], [LB.UK_GDPR_9_2_G, LB.DPA_2018_SCH1_PARA18]]
    assert requirement.satisfied_by({LB.UK_GDPR_6_1_E})
    assert requirement.satisfied_by({LB.UK_GDPR_9_2_G, LB.DPA_2018_SCH1_PARA18})
    assert not requirement.satisfied_by({LB.UK_GDPR_9_2_G})


def test_environment_can_drop_a_purpose_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASHLINK_LAWFUL_BASIS_RULES__PURPOSES__EARLY_HELP", "[]")
    rules = load_settings().lawful_basis_rules
    assert rules.for_purpose(Purpose.EARLY_HELP) == []
    assert rules.for_purpose(Purpose.SECTION_47_ENQUIRY) == default_purpose_rules()[Purpose.SECTION_47_ENQUIRY]


def _health_rules(any_of: list) -> dict:
    return {"lawful_basis_rules": {"agency_kinds": {"health": [{"rule": "article_6", "need": "x", "any_of": any_of}]}}}


def test_unknown_code_is_named_with_its_key_and_line(write_config, default_data) -> None:
    path = write_config({**default_data, **_health_rules(["uk_gdpr_art6_1_e", ["uk_gdpr_art9_2_x"]])})
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    (issue,) = caught.value.issues
    assert issue.path == "lawful_basis_rules.agency_kinds.health[0].any_of[1][0]"
    assert "'uk_gdpr_art9_2_x'" in issue.rule and "uk_gdpr_art9_2_g" in issue.rule
    assert issue.origin.startswith(f"{path.name}:")


def test_unknown_agency_kind_and_purpose_are_named(write_config, default_data) -> None:
    data = {**default_data, "lawful_basis_rules": {"agency_kinds": {"helth": []}, "purposes": {"s47": []}}}
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(data))
    text = str(caught.value)
    assert "lawful_basis_rules.agency_kinds.helth" in text and "'helth'" in text
    assert "lawful_basis_rules.purposes.s47" in text and "'s47'" in text


@pytest.mark.parametrize(("rules", "path", "words"), [
    ({"agency_kinds": {"police": []}}, "lawful_basis_rules.agency_kinds.police", "at least 1"),
    ({"agency_kinds": {"police": [{"rule": "a", "need": "x", "any_of": []}]}},
     "lawful_basis_rules.agency_kinds.police[0].any_of", "at least 1"),
    ({"agency_kinds": {"police": [{"rule": "a", "need": "x", "any_of": ["dpa2018_s35", "dpa2018_s35"]}]}},
     "lawful_basis_rules.agency_kinds.police[0].any_of", "listed twice"),
    ({"agency_kinds": {"police": [{"rule": "a", "need": "x", "any_of": [["dpa2018_s35", "dpa2018_s35"]]}]}},
     "lawful_basis_rules.agency_kinds.police[0].any_of", "repeats a code"),
    ({"purposes": {"early_help": [{"rule": "a", "need": "x", "any_of": ["children_act_2004_s10"]},
                                  {"rule": "a", "need": "y", "any_of": ["children_act_1989_s17"]}]}},
     "lawful_basis_rules.purposes.early_help", "repeated: a"),
    ({"agency_kinds": {"police": [{"rule": "Bad Rule", "need": "x", "any_of": ["dpa2018_s35"]}]}},
     "lawful_basis_rules.agency_kinds.police[0].rule", "pattern"),
])
def test_broken_rules_are_refused_naming_the_key(write_config, default_data, rules: dict, path: str,
                                                 words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config({**default_data, "lawful_basis_rules": rules}))
    assert any(i.path == path and words in i.rule for i in caught.value.issues), str(caught.value)


def test_rules_are_frozen() -> None:
    rules = LawfulBasisRules()
    with pytest.raises(ValidationError):
        rules.purposes = {}  # type: ignore[misc]
