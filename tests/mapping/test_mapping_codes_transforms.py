"""Code tables (unknown codes, defaults) and value transforms."""

from __future__ import annotations

import textwrap
from datetime import date, timedelta
from pathlib import Path

import pytest

from mashlink.mapping import Position, RecordError, load_spec
from mashlink.mapping.codes import default_codes_dir, load_table, load_tables
from mashlink.mapping.errors import TransformError
from mashlink.mapping.transforms import TRANSFORMS, resolve_two_digit_year, title_case


def t(name: str, args=None):
    return TRANSFORMS[name](args)


def test_shipped_code_tables() -> None:
    tables = load_tables([default_codes_dir()])
    assert tables["sex-cin"].lookup("2").value == "female"
    assert tables["sex-cin"].lookup("9").value == "other"  # DfE: 9 = indeterminate
    assert tables["sex-cin"].lookup("0").value == "not_recorded"  # DfE: 0 = not recorded or unborn
    assert tables["sex-ctf"].lookup("m").value == "male"
    assert tables["sex-fhir"].lookup("other").value == "other"
    assert tables["sex-fhir"].lookup("MALE") is None  # FHIR codes are case-sensitive
    assert tables["ethnicity-dfe"].lookup("wbri").label == "White - British"
    assert tables["ethnicity-nhs"].lookup("Z").label == "Not stated"
    assert tables["cin-assessment-factors"].lookup("24a").value == "24A"  # CSV table
    assert tables["cin-category-of-abuse"].lookup("NEG").value == "neglect"
    assert tables["cin-referral-source"].lookup("10").value == "10"
    assert tables["cin-primary-need"].lookup("N4").label == "Family in acute stress"
    assert tables["police-categories"].lookup("MISPER").value == "police.missing_episode"
    assert tables["sex-cin"].lookup("4") is None


def test_csv_code_table_errors(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("code,value\nA,x\nA,y\n", encoding="utf-8")
    with pytest.raises(Exception) as info:
        load_table(path)
    assert "line 3" in str(info.value) and "duplicate code" in str(info.value)


def _spec(tmp_path: Path, rules: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent("""\
        spec: t
        target: Person
        language: json
        rules:
          - target: person_id
            const: p1
        """) + textwrap.indent(textwrap.dedent(rules), "  "), encoding="utf-8")
    return path


def test_unknown_code_is_an_error_naming_table_and_code(tmp_path: Path) -> None:
    mapping = load_spec(_spec(tmp_path, """\
          - target: sex
            source: g
            code: sex-cin
        """))
    assert mapping.translate({"g": "1"}, Position("f", 1)).sex.value == "male"
    with pytest.raises(RecordError) as info:
        mapping.translate({"g": "X7"}, Position("f.json", 4, path="cases[3]"))
    text = str(info.value)
    assert "sex-cin" in text and "'X7'" in text and "f.json record 4" in text and "cases[3]" in text


def test_unknown_code_uses_rule_default(tmp_path: Path) -> None:
    mapping = load_spec(_spec(tmp_path, """\
          - target: sex
            source: g
            code: sex-cin
            default: unknown
        """))
    assert mapping.translate({"g": "X7"}, Position("f", 1)).sex.value == "unknown"
    assert mapping.translate({}, Position("f", 1)).sex.value == "unknown"


def test_on_error_issue_keeps_record(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(textwrap.dedent("""\
        spec: t
        target: AgencyRecord
        language: json
        rules:
          - target: source.agency_kind
            const: police
          - target: source.system
            const: RMS
          - target: source.record_id
            source: id
          - target: person.person_id
            source: id
          - target: person.sex
            source: g
            code: sex-ctf
            on_error: issue
        """), encoding="utf-8")
    record = load_spec(path).translate({"id": "1", "g": "Q"}, Position("f", 1))
    assert record.person.sex is None
    assert record.issues[0].field == "person.sex" and "sex-ctf" in record.issues[0].rule


@pytest.mark.parametrize(
    ("value", "expected"),
    [("03/04/2015", date(2015, 4, 3)), ("3/4/2015", date(2015, 4, 3)), ("2015-04-03", date(2015, 4, 3)),
     ("20150403", date(2015, 4, 3)), ("2015-04-03T10:11:12Z", date(2015, 4, 3))],
)
def test_date_formats(value: str, expected: date) -> None:
    parse = t("date", {"formats": ["dd/mm/yyyy", "yyyymmdd", "iso"]})
    assert parse(value) == expected


def test_two_digit_years_never_in_the_future() -> None:
    today = date.today()
    parse = t("date", {"formats": ["dd/mm/yy"]})
    yesterday = today - timedelta(days=1)
    assert parse(yesterday.strftime("%d/%m/%y")) == yesterday
    tomorrow = today + timedelta(days=1)
    assert parse(tomorrow.strftime("%d/%m/%y")) == tomorrow.replace(year=tomorrow.year - 100)
    assert resolve_two_digit_year(5, 1, 1, "past", date(2024, 6, 1)) == 2005
    assert resolve_two_digit_year(30, 1, 1, "past", date(2024, 6, 1)) == 1930
    assert resolve_two_digit_year(24, 6, 2, "past", date(2024, 6, 1)) == 1924
    assert resolve_two_digit_year(24, 6, 1, "past", date(2024, 6, 1)) == 2024
    assert resolve_two_digit_year(49, 1, 1, 50, date(2024, 6, 1)) == 2049


def test_date_errors_do_not_show_the_value() -> None:
    parse = t("date", {"formats": ["dd/mm/yyyy"]})
    with pytest.raises(TransformError) as info:
        parse("31/02/2015")
    assert "31/02" not in str(info.value) and "99/99/9999" in str(info.value)
    with pytest.raises(TransformError):
        parse("2015-02-01")
    future = (date.today() + timedelta(days=40)).strftime("%d/%m/%Y")
    with pytest.raises(TransformError, match="future"):
        t("date", {"formats": ["dd/mm/yyyy"], "not_future": True})(future)


def test_postcodes() -> None:
    pc = t("postcode")
    assert pc("ls11aa") == "LS1 1AA"
    assert pc(" sw1a   1aa ") == "SW1A 1AA"
    assert pc("m11ae") == "M1 1AE"
    with pytest.raises(TransformError, match="not a UK postcode"):
        pc("NOTAPOSTCODE")
    assert t("postcode", {"invalid": "keep"})("zz9") == "ZZ9"
    assert t("postcode", {"invalid": "drop"})("12345") is None


@pytest.mark.parametrize("word", ["true", "TRUE", "1", "yes", "Y", "y"])
def test_booleans_true(word: str) -> None:
    assert t("bool")(word) is True


@pytest.mark.parametrize("word", ["false", "FALSE", "0", "no", "N"])
def test_booleans_false(word: str) -> None:
    assert t("bool")(word) is False


def test_boolean_rejects_other_words() -> None:
    with pytest.raises(TransformError):
        t("bool")("maybe")


def test_names_and_strings() -> None:
    assert title_case("o'brien-smith mcdonald") == "O'Brien-Smith McDonald"
    assert t("name", {"case": "title"})("  amy   JANE ") == "Amy Jane"
    assert t("name")("  amy   JANE ") == "amy JANE"  # title-case only where asked
    assert t("trim")("  x ") == "x"
    assert t("upper")("ab") == "AB" and t("lower")("AB") == "ab"
    assert t("join", " ")(["a", "", None, "b"]) == "a b"
    assert t("split", ";")("3A; 10A;") == ["3A", "10A"]
    assert t("digits")("999 100 0003") == "9991000003"
    assert t("replace", {"pattern": "^0+", "with": ""})("0042") == "42"


def test_constants_and_concatenation(tmp_path: Path) -> None:
    mapping = load_spec(_spec(tmp_path, """\
          - target: names[0].text
            source: [a, b, c]
            transforms: [{join: ", "}]
          - target: names[0].use
            const: alias
        """))
    person = mapping.translate({"a": "X", "c": "Z"}, Position("f", 1))
    assert person.names[0].text == "X, Z" and person.names[0].use.value == "alias"
