"""XML paths on lxml: the value rules, and every shipped XML spec over fixtures and messy input.

Paths are evaluated by lxml only (the own XPath evaluator and the generated
translator were removed, issue 17). Checked here: the value rules (text of
leaves, elements for structure, comments and PIs ignored, empty values
skipped), and that CTF, CIN and SSDA903 fixtures, messy extracts and
synthetic files translate with both accepted and rejected records, the same
way when translated twice, without changing the parsed input.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from mashlink.connectors.education.ctf_reader import read_ctf
from mashlink.connectors.simulators.ctf_writer import ctf_from_population
from mashlink.connectors.simulators.population import generate_population
from mashlink.connectors.social_care.cin import CinReader
from mashlink.connectors.social_care.ssda903 import Ssda903Reader
from mashlink.connectors.social_care.synthetic import write_cin_file
from mashlink.mapping import load_spec, mappings_dir
from mashlink.mapping.errors import RecordError
from mashlink.mapping.paths.xpath import compile_xpath
from tests.social_care.sc_fixtures import BAD_CHILD, BORN_CHILD, MESSY_CHILD, NO_LA_ID_CHILD, SSDA903_XML, \
    UNBORN_CHILD, cin_file

#: A Python repr leaking into a message (``<lxml.etree._Element Pupil at 0x7f…>``); a temporary
#: directory named ``tmp…0x…`` is not one.
REPR = re.compile(r"\bat 0x[0-9a-f]{4,}|<[\w.]+ object at")

FIXTURES = Path(__file__).resolve().parents[1] / "education" / "fixtures"
NS = {"m": "urn:m", "mx": "urn:mx"}

DOC = etree.fromstring(b"""<Root xmlns:mx="urn:mx"><Header><LEA> 999 </LEA></Header>
<Rec mx:key="K1" plain="" n="12"><A>  one  <!-- c -->two<?pi x?> </A><A/><A>three</A><A><B>in</B>tail</A>
  <Empty></Empty><Item><Id>1</Id></Item><Item><Id>2</Id><Id>2b</Id></Item><Item><Id/></Item></Rec></Root>""")
REC = DOC.find("Rec")


@pytest.mark.parametrize(("expr", "first", "every"), [
    ("A[position() < 4]", "  one  two ", ["  one  two ", "three"]),  # empty A skipped; comment, PI not text
    ("Empty", None, []),
    ("@mx:key", "K1", ["K1"]),
    ("@plain", None, []),
    ("Item/Id", "1", ["1", "2", "2b"]),
    ("/Root/Header/LEA", " 999 ", [" 999 "]),
    ("count(Item)", 3, [3]),
    ("normalize-space(A[1])", "one two", ["one two"]),
    ("Missing", None, []),
])
def test_values_of_paths(expr: str, first: Any, every: list[Any]) -> None:
    path = compile_xpath(expr, NS)
    assert path.first(REC) == first
    assert path.all(REC) == every


def test_elements_with_children_are_structure_and_non_elements_give_nothing() -> None:
    assert getattr(compile_xpath("A[4]").first(REC), "tag", None) == "A"
    assert [getattr(i, "tag", None) for i in compile_xpath("Item").all(REC)] == ["Item"] * 3
    path = compile_xpath("A")
    assert path.first("text") is None and path.all(None) == []


def _paths(rules: list[Any]) -> list[Any]:
    out: list[Any] = []
    for rule in rules:
        if hasattr(rule, "rules"):
            if rule.for_each is not None:
                out.append(rule.for_each)
            out.extend(_paths(rule.rules))
        else:
            out.extend(rule.paths)
    return out


# --- whole specs: each record translates the same way twice, never changing its input -----------


def _outcome(mapping: Any, native: Any, position: Any) -> tuple[str, Any]:
    try:
        return "ok", json.loads(mapping.translate(native, position).model_dump_json())
    except RecordError as exc:
        return "error", str(exc)


def _check(mapping: Any, records: list[tuple[Any, Any]]) -> dict[str, int]:
    """Counts of accepted and rejected records; each gives the same outcome twice and is left unchanged.

    Document-level paths are cached per document and the DfE readers annotate
    records in place: a second translation of the same record catches a
    cache or annotation that leaks into the next read.
    """
    seen = {"ok": 0, "error": 0}
    for native, position in records:
        before = etree.tostring(native)
        first = _outcome(mapping, native, position)
        assert _outcome(mapping, native, position) == first, position
        assert etree.tostring(native) == before, position
        if first[0] == "error":
            assert not REPR.search(first[1]), first[1]
        seen[first[0]] += 1
    return seen


def test_ctf_fixtures_and_synthetic_variants(tmp_path: Path) -> None:
    mapping = load_spec(mappings_dir() / "ctf.yaml")
    files = sorted(FIXTURES.glob("ctf-*.xml"))
    population = generate_population(4242, as_of=date(2024, 7, 1))
    for variant in ("standard", "supplier"):
        path = tmp_path / f"synthetic-{variant}.xml"
        path.write_bytes(ctf_from_population(population, variant=variant, dest_la="MMM" if variant == "supplier"
                                             else None))
        files.append(path)
    total = {"ok": 0, "error": 0}
    for path in files:
        for native, position in read_ctf(path, mapping):
            seen = _check(mapping, [(native, position)])
            for k in total:
                total[k] += seen[k]
    assert total["ok"] > 10


MESSY_CTF = """<?xml version="1.0" encoding="UTF-8"?>
<CTfile><Header><DateTime> 2024-05-01T09:00:00 </DateTime><SupplierID></SupplierID>
<SourceSchool><LEA>999</LEA><Estab> 2001</Estab><SchoolName>Example   School</SchoolName><!-- x --></SourceSchool>
<DestSchool><LEA> XXX </LEA></DestSchool></Header><CTFpupilData>
<Pupil><UPN> a1234567890 12 </UPN><Surname>o'brien</Surname><Forename>  mary   ann </Forename><DOB>31/02/2010</DOB>
  <Sex>X</Sex><BasicDetails><Ethnicity>wbri</Ethnicity><InCare>maybe</InCare><Forename>Other</Forename></BasicDetails>
  <Contacts><Contact><Forename>Pat</Forename><Responsibility>Yes</Responsibility><Relationship>PAF</Relationship>
  <Phones><Phone><PhoneNo> 0113  000 </PhoneNo></Phone></Phones></Contact>
  <Contact><Responsibility>perhaps</Responsibility></Contact><Contact><Responsibility/></Contact></Contacts>
  <Attendance><YearData><Year>2023</Year><SessionsPossible>x</SessionsPossible></YearData>
  <YearData><Year> 2022 </Year><SessionsPossible>300</SessionsPossible><SessionsAuthorised>10</SessionsAuthorised>
  <SessionsUnauthorised>21</SessionsUnauthorised></YearData></Attendance>
  <Exclusions><Exclusion><StartDate>2023-13-01</StartDate><Category>ZZZ</Category></Exclusion></Exclusions>
  <Suspensions><Suspension><StartDate>2023-01-01</StartDate><Category>FIXD</Category></Suspension></Suspensions>
  <SENhistory><SEN><StartDate>2020-09-01</StartDate><SENprovision> e </SENprovision></SEN>
  <SENneeds><SENneed><SENtypeRank>1</SENtypeRank><SENtype>asd</SENtype></SENneed></SENneeds></SENhistory>
  <SchoolHistory><School><LEA>999</LEA><Estab>1</Estab><SchoolName>A</SchoolName><EntryDate>2019-09-01</EntryDate>
  </School><School><LEA>998</LEA><LeavingReason>moved</LeavingReason></School></SchoolHistory>
  <InCare><InCare>true</InCare><CareAuthority> 999 </CareAuthority></InCare></Pupil>
<Pupil><Surname>NoUpn</Surname></Pupil>
<Pupil><UPN>UN2</UPN><BasicDetails><Surname>Smith</Surname><Gender>F</Gender><DOB>2012-01-01</DOB></BasicDetails>
  <FSMhistory><FSMinstance><FSMstartDate>2021-09-01</FSMstartDate></FSMinstance></FSMhistory>
  <MissingEducation><Episode><StartDate>2022-02-02</StartDate><Reason> lost </Reason></Episode></MissingEducation></Pupil>
</CTFpupilData></CTfile>
"""


def test_messy_ctf_translates_the_same_way_twice_with_the_values_lxml_reads(tmp_path: Path) -> None:
    mapping = load_spec(mappings_dir() / "ctf.yaml")
    path = tmp_path / "messy.xml"
    path.write_text(MESSY_CTF, encoding="utf-8")
    seen = {"ok": 0, "error": 0}
    outcomes = []
    for native, position in read_ctf(path, mapping):
        for k, v in _check(mapping, [(native, position)]).items():
            seen[k] += v
        outcomes.append(_outcome(mapping, native, position))
    assert seen == {"ok": 2, "error": 1}
    # What the paths read, field by field: trimmed and split text, upper-cased codes, the nested
    # BasicDetails fall-backs of the second layout, and a date that is not a date left empty.
    (kind1, first), (kind2, error), (kind3, third) = outcomes
    assert kind1 == "ok" and first["person"]["names"][0]["given"] == ["mary", "ann"]
    assert first["person"]["names"][0]["family"] == "o'brien" and first["person"]["birth_date"] is None
    assert first["person"]["ethnicity"]["code"] == "WBRI" and first["source"]["organisation"] == "999 2001"
    assert first["source"]["record_id"] == "A123456789012"
    assert kind2 == "error" and "person.identifiers[]: required" in error and "/CTfile/CTFpupilData/Pupil[2]" in error
    assert kind3 == "ok" and third["person"]["names"][0]["family"] == "Smith" and third["person"]["sex"] == "female"
    assert third["person"]["birth_date"]["value"] == "2012-01-01"


def _namespaced(text: str) -> str:
    return text.replace("<Message>", '<Message xmlns="http://www.dfe.gov.uk/CoreSchema/CIN">')


def _cin_outcomes(mapping: Any, path: Path) -> list[tuple[str, Any]]:
    outcomes = []
    for native, position in CinReader()(path, mapping, None):
        _check(mapping, [(native, position)])
        outcomes.append(_outcome(mapping, native, position))
    return outcomes


def test_a_namespaced_cin_file_gives_exactly_the_records_of_a_plain_one(tmp_path: Path) -> None:
    """The DfE schema's namespace changes no value and no error (paths are namespace-blind)."""
    mapping = load_spec(mappings_dir() / "cin.yaml")
    text = cin_file("\n".join([BORN_CHILD, UNBORN_CHILD, MESSY_CHILD, BAD_CHILD, NO_LA_ID_CHILD]))
    plain, spaced = tmp_path / "plain.xml", tmp_path / "spaced.xml"
    plain.write_text(text, encoding="utf-8")
    spaced.write_text(_namespaced(text), encoding="utf-8")
    plain_outcomes = _cin_outcomes(mapping, plain)
    spaced_outcomes = _cin_outcomes(mapping, spaced)
    assert [kind for kind, _ in plain_outcomes].count("ok") >= 3 and any(k == "error" for k, _ in plain_outcomes)
    assert [o for k, o in spaced_outcomes if k == "ok"] == [o for k, o in plain_outcomes if k == "ok"]
    errors = [(o.replace("spaced.xml", ""), p.replace("plain.xml", "")) for (k, o), (_, p)
              in zip(spaced_outcomes, plain_outcomes) if k == "error"]
    assert errors and all(a == b for a, b in errors)
    unborn = [o for k, o in plain_outcomes if k == "ok" and o["person"]["unborn"]]
    assert len(unborn) == 1 and unborn[0]["person"]["birth_date"] is None


@pytest.mark.parametrize("namespaced", [False, True])
def test_cin_fixtures_translate_the_same_way_twice(tmp_path: Path, namespaced: bool) -> None:
    mapping = load_spec(mappings_dir() / "cin.yaml")
    text = cin_file("\n".join([BORN_CHILD, UNBORN_CHILD, MESSY_CHILD, BAD_CHILD, NO_LA_ID_CHILD]))
    path = tmp_path / "cin.xml"
    path.write_text(_namespaced(text) if namespaced else text, encoding="utf-8")
    seen = {"ok": 0, "error": 0}
    for native, position in CinReader()(path, mapping, None):
        for k, v in _check(mapping, [(native, position)]).items():
            seen[k] += v
    assert seen["ok"] >= 3 and seen["error"] >= 1
    synthetic = tmp_path / "synthetic.xml"
    write_cin_file(synthetic, children=60)
    if namespaced:
        synthetic.write_text(_namespaced(synthetic.read_text(encoding="utf-8")), encoding="utf-8")
    records = 0
    for native, position in CinReader()(synthetic, mapping, None):
        _check(mapping, [(native, position)])
        records += 1
    assert records == 60


def test_ssda903_xml_translates_the_same_way_twice(tmp_path: Path) -> None:
    mapping = load_spec(mappings_dir() / "ssda903.yaml")
    path = tmp_path / "ssda903.xml"
    path.write_text(SSDA903_XML, encoding="utf-8")
    seen = {"ok": 0, "error": 0}
    for native, position in Ssda903Reader(la_code="999")(path, mapping, None):
        for k, v in _check(mapping, [(native, position)]).items():
            seen[k] += v
    assert seen["ok"] >= 1


def test_comment_inside_a_leaf_is_not_structure() -> None:
    record = etree.fromstring("<R><SchoolName>Example <!-- stray --> School</SchoolName><B><C>1</C></B></R>")
    assert compile_xpath("SchoolName", {}).first(record) == "Example  School"
    assert getattr(compile_xpath("B", {}).first(record), "tag", None) == "B"
