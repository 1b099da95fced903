"""Issue 18, inputs as they come from the field: children's social care.

Inconsistent native data is kept and flagged (never the whole child rejected);
LA exports of SSDA903 in the EXPSSDA903 layout are read; a file that yields no
record says what was expected and what was found; odd CSV headers and control
characters never crash the reader; no canonical value is ever an element repr.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mashlink.ops.cli import app
from tests.social_care.sc_fixtures import BORN_CHILD, INCONSISTENT_CHILD, cin_file

runner = CliRunner(mix_stderr=False) if "mix_stderr" in CliRunner.__init__.__code__.co_varnames else CliRunner()
FIXTURES = Path(__file__).parent / "fixtures"


def _run(*args: str):
    return runner.invoke(app, list(args))


def _records(stdout: str) -> dict[str, dict]:
    return {r["source"]["record_id"]: r for r in json.loads(stdout)}


def _by_category(record: dict, category: str) -> list[dict]:
    return [f for f in record["findings"] if f["category"] == category]


# --- keep and flag ------------------------------------------------------------------------------


def test_cin_closure_before_referral_is_kept_with_a_data_quality_issue(tmp_path: Path) -> None:
    path = tmp_path / "cin.xml"
    path.write_text(cin_file("\n".join([INCONSISTENT_CHILD, BORN_CHILD])), encoding="utf-8")
    result = _run("translate", "cin", str(path))
    assert result.exit_code == 0, result.stderr
    assert "2 record(s) accepted, 0 rejected" in result.stderr
    child = _records(result.stdout)["LA0005"]
    referral = _by_category(child, "social_care.referral")[0]
    assert referral["start"] == "2023-03-01"                     # the referral stands
    assert referral["end"] is None                               # the contradicted closure is left out ...
    assert referral["attributes"]["end_as_reported"] == "2023-02-01"   # ... but kept as reported
    assert referral["attributes"]["closure_reason"] == "RC8"
    plan = _by_category(child, "social_care.child_protection_plan")[0]
    assert plan["start"] == "2023-05-01" and plan["end"] is None
    issues = {(i["field"], i["rule"]): i["detail"] for i in child["issues"]}
    i_ref = child["findings"].index(referral)
    detail = issues[(f"findings[{i_ref}].end", "finding_order")]
    assert f"findings[{i_ref}].start" in detail and "kept and flagged" in detail
    assert "2023-02-01" not in detail                            # positions, never values
    i_plan = child["findings"].index(plan)
    assert (f"findings[{i_plan}].end", "finding_order") in issues


# --- SSDA903 in the EXPSSDA903 layout -----------------------------------------------------------


def test_expssda903_layout_is_translated_with_its_values() -> None:
    result = _run("translate", "ssda903", str(FIXTURES / "expssda903.xml"), "--la", "999")
    assert result.exit_code == 0, result.stderr
    assert "2 record(s) accepted, 0 rejected" in result.stderr
    records = _records(result.stdout)
    assert set(records) == {"LAC0001", "LAC0002"}
    first = records["LAC0001"]
    person = first["person"]
    assert person["birth_date"]["value"] == "2015-06-01" and person["sex"] == "female"
    assert person["ethnicity"]["code"] == "WBRI"
    ids = {i["system"]: i for i in person["identifiers"]}
    assert ids["la_child_id"] == {**ids["la_child_id"], "value": "LAC0001", "scope": "999"}
    assert ids["upn"]["value"] == "U999000000042" and ids["upn"]["check"] == "passed"
    assert first["source"]["organisation"] == "999"
    episodes = _by_category(first, "social_care.looked_after_episode")
    assert [(e["start"], e["end"]) for e in episodes] == [("2023-04-03", "2023-06-20"), ("2023-06-20", None)]
    assert episodes[0]["attributes"]["placement"] == "U4"                 # PL in this layout
    assert episodes[0]["attributes"]["legal_status"] == "V2"
    assert episodes[0]["attributes"]["reason_episode_ceased"] == "X1"
    assert episodes[1]["attributes"]["legal_status"] == "C2" and episodes[1]["attributes"]["active"] is True
    assert episodes[1]["attributes"]["latest_review"] == "10/01/2024"   # HEADER/AREVIEW
    assert episodes[1]["attributes"]["reviews"] == 2
    [missing] = _by_category(first, "social_care.missing_episode")
    assert (missing["start"], missing["end"], missing["attributes"]["missing_type"]) == (
        "2023-09-02", "2023-09-03", "missing")
    assert first["issues"] == []
    # The second child's episode ends before it starts: kept and flagged, not rejected.
    second = records["LAC0002"]
    [episode] = _by_category(second, "social_care.looked_after_episode")
    assert episode["start"] == "2023-11-01" and episode["end"] is None
    assert episode["attributes"]["end_as_reported"] == "2023-10-01"
    assert [(i["field"], i["rule"]) for i in second["issues"]] == [("findings[0].end", "finding_order")]


def test_expssda903_with_a_child_id_written_as_child_and_a_namespace(tmp_path: Path) -> None:
    path = tmp_path / "903.xml"
    path.write_text(
        '<EXPSSDA903 xmlns="urn:example:903"><CHILD><HEADER><SEX>1</SEX><CHILD>LAC0009</CHILD><DOB>01/02/2012</DOB>'
        "<ETHNIC>WBRI</ETHNIC></HEADER><EPISODE><DECOM>01/01/2024</DECOM><RNE>S</RNE><LS>V2</LS><PL>K2</PL>"
        "</EPISODE></CHILD></EXPSSDA903>", encoding="utf-8")
    result = _run("translate", "ssda903", str(path), "--la", "999")
    assert result.exit_code == 0, result.stderr
    child = _records(result.stdout)["LAC0009"]
    assert child["person"]["sex"] == "male" and child["person"]["birth_date"]["value"] == "2012-02-01"
    assert _by_category(child, "social_care.looked_after_episode")[0]["attributes"]["placement"] == "K2"


# --- a non-empty file that yields nothing says what was expected and what was found ------------


def test_xml_with_no_children_names_what_was_expected_and_found(tmp_path: Path) -> None:
    path = tmp_path / "903.xml"
    path.write_text("<SSDA903Return><Header><LEA>999</LEA></Header><Kids><Kid/></Kids></SSDA903Return>",
                    encoding="utf-8")
    result = _run("translate", "ssda903", str(path))
    assert result.exit_code == 1
    assert "0 rejected\n" not in result.stderr and "1 file(s) unreadable" in result.stderr
    assert "expected SSDA903 XML" in result.stderr and "EXPSSDA903/CHILD" in result.stderr
    assert "found root element <SSDA903Return> containing <Header>, <Kids>" in result.stderr


def test_empty_expssda903_names_what_was_expected(tmp_path: Path) -> None:
    path = tmp_path / "903.xml"
    path.write_text("<EXPSSDA903><HEADER/></EXPSSDA903>", encoding="utf-8")
    result = _run("translate", "ssda903", str(path))
    assert result.exit_code == 1
    assert "expected EXPSSDA903 with CHILD elements" in result.stderr and "<HEADER>" in result.stderr


def test_cin_file_with_no_child_names_what_was_expected_and_found(tmp_path: Path) -> None:
    path = tmp_path / "cin.xml"
    path.write_text("<Message><Header><Source><LEA>999</LEA></Source></Header><Children/></Message>",
                    encoding="utf-8")
    result = _run("translate", "cin", str(path))
    assert result.exit_code == 1
    assert "0 rejected\n" not in result.stderr and "1 file(s) unreadable" in result.stderr
    assert "expected" in result.stderr and "Children/Child" in result.stderr
    assert "found root element <Message> containing <Header>, <Children>" in result.stderr


def test_csv_header_table_with_no_rows_names_what_was_expected(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB\n", encoding="utf-8")
    result = _run("translate", "ssda903", str(path))
    assert result.exit_code == 1
    assert "0 rejected\n" not in result.stderr and "1 file(s) unreadable" in result.stderr
    assert "expected rows of children" in result.stderr and "found only header rows" in result.stderr


# --- CSV headers that cannot be XML names, control characters in values ------------------------


def test_csv_with_unnamable_columns_and_control_characters_is_kept_not_a_traceback(tmp_path: Path) -> None:
    header = tmp_path / "header.csv"
    header.write_text("CHILD,SEX,DOB,ETHNIC,UPN,Date of birth (old),1ST,a:b,\n"
                      "LAC0001,2,01/06/2015,WB\x01RI,,x,y,z,\n"
                      "LAC0002,1,14/09/2009,BAFR,,,,,\n", encoding="utf-8")
    episodes = tmp_path / "episodes.csv"
    episodes.write_text("CHILD,DECOM,RNE,LS,PLACE,DEC,REC\n"
                        "LAC0001,01/01/2024,S,V\x1b2,K2,,\n", encoding="utf-8")
    result = _run("translate", "ssda903", str(header), str(episodes), "--la", "999")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stderr and "ValueError" not in result.stderr
    assert "DATE OF BIRTH (OLD)" in result.stderr and "cannot be named" in result.stderr
    records = _records(result.stdout)
    assert set(records) == {"LAC0001", "LAC0002"}
    child = records["LAC0001"]
    assert child["person"]["ethnicity"]["code"] == "WBRI"
    assert _by_category(child, "social_care.looked_after_episode")[0]["attributes"]["legal_status"] == "V2"
    flagged = {(i["field"], i["rule"]) for i in child["issues"]}
    assert {("ETHNIC", "control_characters"), ("LS", "control_characters")} <= flagged
    assert all("\x01" not in i["detail"] for i in child["issues"])


def test_csv_child_id_that_is_only_control_characters_is_rejected_cleanly(tmp_path: Path) -> None:
    header = tmp_path / "header.csv"
    header.write_text("CHILD,SEX,DOB,ETHNIC\n\x00\x02,1,01/01/2015,WBRI\nLAC0003,1,01/01/2015,WBRI\n",
                      encoding="utf-8")
    result = _run("translate", "ssda903", str(header), "--la", "999")
    assert result.exit_code == 0, result.stderr
    assert set(_records(result.stdout)) == {"LAC0003"}
    assert "CHILD is empty" in result.stderr and "1 rejected" in result.stderr


# --- an element inside a leaf is a structural error, never a repr -------------------------------


def test_cin_nested_element_in_a_leaf_is_an_error_naming_the_path_never_a_repr(tmp_path: Path) -> None:
    nested_id = BORN_CHILD.replace("<LAchildID>LA0001</LAchildID>",
                                   "<LAchildID>LA0001<CHILD>LA0001</CHILD></LAchildID>")
    nested_date = INCONSISTENT_CHILD.replace("<CINreferralDate>2023-03-01</CINreferralDate>",
                                             "<CINreferralDate><CINreferralDate>2023-03-01</CINreferralDate>"
                                             "</CINreferralDate>")
    path = tmp_path / "cin.xml"
    path.write_text(cin_file("\n".join([nested_id, nested_date])), encoding="utf-8")
    result = _run("translate", "cin", str(path))
    assert "<Element" not in result.stdout and "<Element" not in result.stderr
    assert "ChildIdentifiers/LAchildID" in result.stderr and "structure" in result.stderr
    if result.exit_code == 0:
        for record in json.loads(result.stdout):
            assert "Element" not in json.dumps(record)


def test_ssda903_nested_element_in_a_leaf_is_an_error_naming_the_path_never_a_repr(tmp_path: Path) -> None:
    text = (FIXTURES / "expssda903.xml").read_text(encoding="utf-8")
    text = text.replace("<CHILDID>LAC0001</CHILDID>", "<CHILDID><CHILD>LAC0001</CHILD></CHILDID>")
    text = text.replace("<DECOM>01/11/2023</DECOM>", "<DECOM><DECOM>01/11/2023</DECOM></DECOM>")
    path = tmp_path / "903.xml"
    path.write_text(text, encoding="utf-8")
    result = _run("translate", "ssda903", str(path), "--la", "999")
    assert "<Element" not in result.stdout and "<Element" not in result.stderr
    assert "record 1" in result.stderr and "CHILD" in result.stderr and "structure" in result.stderr
    assert result.exit_code == 0, result.stderr
    [kept] = json.loads(result.stdout)                       # the second child: its DECOM is flagged, not a repr
    assert kept["source"]["record_id"] == "LAC0002"
    assert "Element" not in json.dumps(kept)
    assert any(i["field"].endswith("start") for i in kept["issues"])


def test_drop_folder_recognises_the_expssda903_layout() -> None:
    from mashlink.connectors.social_care.index import sniff_format

    assert sniff_format(FIXTURES / "expssda903.xml") == "ssda903"
