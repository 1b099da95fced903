"""CIN census and SSDA903 through the CLI: findings, unborn children, messy and bad records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mashlink.ops.cli import app
from tests.social_care.sc_fixtures import (
    BAD_CHILD, BORN_CHILD, MESSY_CHILD, NO_LA_ID_CHILD, SSDA903_EPISODES, SSDA903_HEADER, SSDA903_MISSING,
    SSDA903_XML, UNBORN_CHILD, UPN_OK, cin_file,
)

runner = CliRunner(mix_stderr=False) if "mix_stderr" in CliRunner.__init__.__code__.co_varnames else CliRunner()


def _run(*args: str):
    return runner.invoke(app, list(args))


def _records(stdout: str) -> dict[str, dict]:
    return {r["source"]["record_id"]: r for r in json.loads(stdout)}


def _by_category(record: dict, category: str) -> list[dict]:
    return [f for f in record["findings"] if f["category"] == category]


@pytest.fixture()
def cin_path(tmp_path: Path) -> Path:
    path = tmp_path / "cin.xml"
    path.write_text(cin_file("\n".join([BORN_CHILD, UNBORN_CHILD, MESSY_CHILD])), encoding="utf-8")
    return path


@pytest.mark.parametrize("command", [["translate", "cin"]])
def test_cin_translates_referral_assessment_s47_and_plan(cin_path: Path, command: list[str]) -> None:
    result = _run(*command, str(cin_path))
    assert result.exit_code == 0, result.stderr
    child = _records(result.stdout)["LA0001"]
    ids = {i["system"]: i for i in child["person"]["identifiers"]}
    assert ids["la_child_id"]["value"] == "LA0001" and ids["la_child_id"]["scope"] == "999"
    assert ids["upn"]["value"] == UPN_OK and ids["upn"]["check"] == "passed"
    assert ids["nhs_number"]["check"] == "passed"
    assert child["source"]["organisation"] == "999"
    referral = _by_category(child, "social_care.referral")[0]
    assert referral["attributes"]["referral_source"] == "6"
    assert referral["attributes"]["primary_need"] == "N1"
    assert referral["attributes"]["closure_reason"] == "RC8"
    assert referral["attributes"]["referral_nfa"] is False
    assert referral["end"] == "2024-01-10"
    assessment = _by_category(child, "social_care.assessment")[0]
    assert assessment["codes"] == ["3A", "10A", "24A"]
    assert assessment["start"] == "2023-05-03"
    s47 = _by_category(child, "social_care.section_47")[0]
    assert s47["attributes"]["initial_cpc_date"] == "2023-05-18"
    assert s47["attributes"]["icpc_not_required"] is False
    plan = _by_category(child, "social_care.child_protection_plan")[0]
    assert plan["attributes"]["initial_category"] == "emotional_abuse"
    assert plan["attributes"]["latest_category"] == "neglect"
    assert plan["attributes"]["category"] == "NEG"
    assert plan["attributes"]["reviews"] == 2 and plan["attributes"]["active"] is False
    assert child["issues"] == []


def test_cin_unborn_child_has_expected_date_and_no_birth_date(cin_path: Path) -> None:
    result = _run("translate", "cin", str(cin_path))
    unborn = _records(result.stdout)["LA0002"]["person"]
    assert unborn["unborn"] is True
    assert unborn["expected_birth_date"] == "2099-02-01"
    assert unborn["birth_date"] is None
    upn = [i for i in unborn["identifiers"] if i["system"] == "upn"][0]
    assert upn["check"] == "unknown_code"


def test_messy_child_is_kept_with_its_problems_flagged(cin_path: Path) -> None:
    result = _run("translate", "cin", str(cin_path))
    assert result.exit_code == 0
    messy = _records(result.stdout)["LA0003"]
    rules = {(i["field"], i["rule"]) for i in messy["issues"]}
    assert ("ChildIdentifiers", "stray_text") in rules
    assert ("person.identifiers[upn]", "upn_check") in rules
    assert any(f.endswith("start") and r == "transform" for f, r in rules)          # date with text in it
    assert any("referral_source" in f and r.startswith("code table") for f, r in rules)
    upn = [i for i in messy["person"]["identifiers"] if i["system"] == "upn"][0]
    assert upn["check"] == "failed"                          # kept, not trusted
    assert messy["person"]["sex"] == "male"                  # later collections' <Sex>
    assert messy["person"]["ethnicity"]["code"] == "WBRI"
    s47 = _by_category(messy, "social_care.section_47")[0]
    assert s47["attributes"]["icpc_not_required"] is True    # TRUE
    assert _by_category(messy, "social_care.referral")[0]["attributes"]["referral_nfa"] is False  # FALSE
    assert _by_category(messy, "social_care.referral")[0]["start"] is None          # unparsable date dropped, flagged


def test_bad_records_are_named_by_la_child_id_or_upn_and_the_rest_translate(tmp_path: Path) -> None:
    path = tmp_path / "cin.xml"
    path.write_text(cin_file("\n".join([BAD_CHILD, BORN_CHILD, NO_LA_ID_CHILD])), encoding="utf-8")
    result = _run("translate", "cin", str(path))
    assert result.exit_code == 0
    assert list(_records(result.stdout)) == ["LA0001"]
    err = result.stderr
    assert f"{path} record 1, id LA0004" in err
    assert "person.expected_birth_date" in err and "unborn_expected_birth_date_required" in err
    assert f"record 3, id UPN {UPN_OK}" in err and "person.person_id" in err and "required" in err
    assert "Secretname" not in err
    assert "1 record(s) accepted" in err and "2 rejected" in err


def test_nothing_usable_exits_non_zero_with_no_output(tmp_path: Path) -> None:
    path = tmp_path / "cin.xml"
    path.write_text(cin_file(BAD_CHILD), encoding="utf-8")
    out = tmp_path / "out.json"
    result = _run("translate", "cin", str(path), "--output", str(out))
    assert result.exit_code == 1
    assert not out.exists() and result.stdout == ""
    assert not list(tmp_path.glob(".mashlink-translate-*"))


def test_unsafe_xml_is_refused_as_a_file_error(tmp_path: Path) -> None:
    path = tmp_path / "evil.xml"
    path.write_text('<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                    "<Message><Children><Child><ChildIdentifiers><LAchildID>&x;</LAchildID></ChildIdentifiers>"
                    "</Child></Children></Message>", encoding="utf-8")
    result = _run("translate", "cin", str(path))
    assert result.exit_code == 1
    assert "cannot read" in result.stderr and "root:" not in result.stderr + result.stdout


def _csv_set(tmp_path: Path) -> list[Path]:
    files = {"header.csv": SSDA903_HEADER, "episodes.csv": SSDA903_EPISODES, "missing.csv": SSDA903_MISSING}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return [tmp_path / n for n in files]


@pytest.mark.parametrize("command", [["translate", "ssda903"]])
def test_ssda903_csv_set_is_joined_on_child_with_two_digit_years(tmp_path: Path, command: list[str]) -> None:
    result = _run(*command, *map(str, _csv_set(tmp_path)), "--la", "999")
    assert result.exit_code == 0, result.stderr
    recs = _records(result.stdout)
    assert set(recs) == {"LA0001", "LA0010"}
    first = recs["LA0001"]
    episodes = _by_category(first, "social_care.looked_after_episode")
    assert [e["start"] for e in episodes] == ["2023-05-01", "2023-08-15"]       # ordered by DECOM
    assert episodes[0]["end"] == "2023-08-15"                                     # 15/08/23
    assert episodes[0]["attributes"]["legal_status"] == "C1"
    assert episodes[0]["attributes"]["legal_status_label"] == "Interim care order"
    assert episodes[0]["attributes"]["placement"] == "U4"
    assert episodes[0]["attributes"]["reason_new_episode"] == "S"
    assert episodes[0]["attributes"]["reason_new_episode_label"] == "Started to be looked after"
    assert episodes[1]["attributes"]["reason_new_episode"] == "P"
    assert episodes[1]["attributes"]["active"] is True
    missing = _by_category(first, "social_care.missing_episode")[0]
    assert (missing["start"], missing["attributes"]["missing_type"]) == ("2023-09-03", "missing")
    ids = {i["system"]: i for i in first["person"]["identifiers"]}
    assert ids["la_child_id"]["scope"] == "999" and ids["upn"]["check"] == "passed"
    second = recs["LA0010"]
    assert second["person"]["birth_date"]["value"] == "2009-09-14"                # 14/09/09
    assert _by_category(second, "social_care.missing_episode")[0]["start"] == "2023-10-10"
    assert [i["rule"] for i in second["issues"]] == ["csv_row"]                  # short episode row flagged
    assert "id LA0099" in result.stderr and "no header row" in result.stderr     # orphan episode named
    assert "2 record(s) accepted" in result.stderr and "1 rejected" in result.stderr


def test_generic_translate_refuses_la_for_formats_that_name_their_organisation(tmp_path: Path) -> None:
    path = tmp_path / "cases.json"
    path.write_text('{"cases": []}', encoding="utf-8")
    result = _run("translate", "json", str(path), "--la", "999")
    assert result.exit_code == 2
    assert "--la does not apply to format 'json'" in result.stderr


def test_ssda903_legal_status_codes_are_checked(tmp_path: Path) -> None:
    (tmp_path / "header.csv").write_text("CHILD,SEX,DOB,ETHNIC\nLA1,1,01/01/2012,WBRI\n", encoding="utf-8")
    rows = "".join(f"LA1,0{i + 1}/01/2020,{'L' if i else 'S'},{ls},N1,U4,PR1,0{i + 2}/01/2020,X1\n"
                   for i, ls in enumerate(["C1", "C2", "E1", "J1", "J2", "J3", "L1", "V2", "Q9"]))
    (tmp_path / "episodes.csv").write_text("CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC\n" + rows,
                                           encoding="utf-8")
    result = _run("translate", "ssda903", str(tmp_path / "header.csv"),
                  str(tmp_path / "episodes.csv"), "--la", "999")
    record = _records(result.stdout)["LA1"]
    statuses = [e["attributes"].get("legal_status") for e in record["findings"]]
    assert statuses == ["C1", "C2", "E1", "J1", "J2", "J3", "L1", "V2", None]
    assert any(i["rule"] == "code table ssda903-legal-status" for i in record["issues"])


def test_ssda903_reason_episode_ceased_is_checked_and_labelled(tmp_path: Path) -> None:
    (tmp_path / "header.csv").write_text("CHILD,SEX,DOB,ETHNIC\nLA2,2,01/01/2012,WBRI\n", encoding="utf-8")
    rows = "".join(f"LA2,0{i + 1}/02/2020,S,C2,N1,U4,PR1,0{i + 2}/02/2020,{rec}\n"
                   for i, rec in enumerate(["E4A", "E45", "E9", "Q7"]))
    (tmp_path / "episodes.csv").write_text("CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC\n" + rows,
                                           encoding="utf-8")
    result = _run("translate", "ssda903", str(tmp_path / "header.csv"), str(tmp_path / "episodes.csv"),
                  "--la", "999")
    record = _records(result.stdout)["LA2"]
    ceased = [(e["attributes"].get("reason_episode_ceased"), e["attributes"].get("reason_episode_ceased_label", ""))
              for e in record["findings"]]
    assert [c for c, _ in ceased] == ["E4A", "E45", "E9", None]  # Q7 is not a DfE code: kept out, flagged
    assert "care planning" in ceased[0][1] and "special guardianship" in ceased[1][1].lower()
    assert any(i["rule"] == "code table ssda903-reason-episode-ceased" for i in record["issues"])


def test_ssda903_xml_through_the_generic_translate(tmp_path: Path) -> None:
    path = tmp_path / "ssda903.xml"
    path.write_text(SSDA903_XML, encoding="utf-8")
    result = _run("translate", "ssda903", str(path))
    assert result.exit_code == 0, result.stderr
    record = _records(result.stdout)["LA0001"]
    episode = _by_category(record, "social_care.looked_after_episode")[0]
    assert episode["attributes"]["legal_status"] == "L2"
    assert episode["attributes"]["placement"] == "R1"
    assert (episode["start"], episode["end"]) == ("2023-05-01", "2023-05-09")
    la = [i for i in record["person"]["identifiers"] if i["system"] == "la_child_id"][0]
    assert la["scope"] == "999"


def test_ssda903_csv_set_through_the_generic_translate_is_joined_and_written_atomically(tmp_path: Path) -> None:
    out = tmp_path / "out" / "canonical.json"
    out.parent.mkdir()
    result = _run("translate", "ssda903", *map(str, _csv_set(tmp_path)), "--output", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    recs = _records(out.read_text(encoding="utf-8"))
    assert set(recs) == {"LA0001", "LA0010"}
    assert len(_by_category(recs["LA0001"], "social_care.looked_after_episode")) == 2
    assert list(out.parent.iterdir()) == [out]  # no temporary file left behind
