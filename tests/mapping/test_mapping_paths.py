"""Each path language, including filters, compiled once and evaluated per record."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from mashlink.mapping.errors import PathSyntaxError
from mashlink.mapping.paths import compile_path
from mashlink.mapping.paths.hl7 import split_message

DATA = Path(__file__).parent / "data"

PATIENT = {
    "identifier": [
        {"system": "https://example.org/mrn", "value": "MRN-1"},
        {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765870"},
    ],
    "name": [
        {"use": "old", "family": "Old", "given": ["A"]},
        {"use": "official", "family": "New", "given": ["B", "C"]},
    ],
    "Date of birth": "2015-01-01",
    "n": [1, 2, 3],
}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("identifier[system='https://fhir.nhs.uk/Id/nhs-number'].value", ["9434765870"]),
        ("identifier[system!='https://example.org/mrn'].value", ["9434765870"]),
        ("name[use=official].family", ["New"]),
        ("name[use=official and family=New].given", ["B", "C"]),
        ("name[use=official].given[1]", ["C"]),
        ("name.given", ["A", "B", "C"]),
        ("name[0].family", ["Old"]),
        ("name[-1].family", ["New"]),
        ("name[*].family", ["Old", "New"]),
        ('"Date of birth"', ["2015-01-01"]),
        ("n[2]", [3]),
        ("name[given=C].family", ["New"]),
        ("nothing.here", []),
        ("name[5].family", []),
    ],
)
def test_json_fhir_paths(expr: str, expected: list) -> None:
    path = compile_path("fhir", expr)
    assert path.all(PATIENT) == expected
    assert path.first(PATIENT) == (expected[0] if expected else None)


@pytest.mark.parametrize("expr", ["a..b", "a[", "a[x=", "", "a]", "a[b='x]"])
def test_json_path_syntax_errors(expr: str) -> None:
    with pytest.raises(PathSyntaxError):
        compile_path("json", expr)


def test_xpath_with_namespaces() -> None:
    root = etree.parse(str(DATA / "cin.xml")).getroot()
    ns = {"c": "http://www.example.org/cin"}
    children = compile_path("xml", "/c:Message/c:Children/c:Child", ns).all(root)
    assert len(children) == 2
    upn = compile_path("xml", "c:ChildIdentifiers/c:UPN", ns)
    assert [upn.first(c) for c in children] == ["A123456789012", None]
    assert compile_path("xml", "count(c:Children/c:Child)", ns).first(root) == 2
    with pytest.raises(PathSyntaxError):
        compile_path("xml", "c:Child[", ns)
    with pytest.raises(PathSyntaxError):
        compile_path("xml", "q:Child", ns)


def test_hl7_paths() -> None:
    message = split_message((DATA / "adt.hl7").read_text())
    assert compile_path("hl7v2", "PID-3[CX.4=NHS].1").all(message) == ["9434765870"]
    assert compile_path("hl7v2", "PID-3[4=RXX].1").all(message) == ["MRN-77"]
    assert compile_path("hl7v2", "PID-3(2).1").first(message) == "9434765870"
    assert compile_path("hl7v2", "PID-5.2").first(message) == "AMY"
    assert compile_path("hl7v2", "MSH-9.2").first(message) == "A01"
    assert compile_path("hl7v2", "MSH-2").first(message) == "^~\\&"
    assert compile_path("hl7v2", "NK1-2.1").all(message) == ["TESTERSON", "TESTERSON"]
    segments = compile_path("hl7v2", "NK1").all(message)
    assert [compile_path("hl7v2", "NK1-3").first(s) for s in segments] == ["MTH", "FTH"]
    reps = compile_path("hl7v2", "PID-3").all(message)
    assert [compile_path("hl7v2", ".4").first(r) for r in reps] == ["RXX", "NHS"]
    assert compile_path("hl7v2", "PID-99").all(message) == []
    for bad in ("PID3", "PID-0", "pid-3", "PID-3[CX.4NHS]"):
        with pytest.raises(PathSyntaxError):
            compile_path("hl7v2", bad)


def test_hl7_escapes() -> None:
    message = split_message("MSH|^~\\&|A\rNTE|1||A\\T\\B")
    assert compile_path("hl7v2", "NTE-3").first(message) == "A&B"


def test_csv_columns() -> None:
    row = {"Date of birth": "01/01/2015", "empty": ""}
    assert compile_path("csv", "Date of birth").first(row) == "01/01/2015"
    assert compile_path("csv", "empty").first(row) is None
    assert compile_path("csv", "missing").all(row) == []
    assert compile_path("csv", "$").first("item") == "item"
