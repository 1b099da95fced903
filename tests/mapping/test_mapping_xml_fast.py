"""The compiled XPath subset (mapping/paths/xpath.py) gives exactly lxml's answers.

Two levels: single expressions against lxml on hand-made messy elements
(whitespace, comments, CDATA, namespaces, missing vs empty, numbers), and
whole DfE specs (CTF, CIN, SSDA903) translated with the compiled paths and
with lxml-only paths, which must give identical records and identical errors.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from mashlink.connectors.education.ctf_reader import read_ctf
from mashlink.connectors.education.synthetic import ctf_from_population
from mashlink.connectors.simulators.population import generate_population
from mashlink.connectors.social_care.cin import CinReader
from mashlink.connectors.social_care.ssda903 import Ssda903Reader
from mashlink.connectors.social_care.synthetic import write_cin_file
from mashlink.mapping import load_spec, mappings_dir
from mashlink.mapping.errors import RecordError
from mashlink.mapping.paths import xpath as xpath_module
from mashlink.mapping.paths.xpath import XPathExpr, _child_tags, compile_fast_xpath, compile_xpath
from tests.social_care.sc_fixtures import BAD_CHILD, BORN_CHILD, MESSY_CHILD, NO_LA_ID_CHILD, SSDA903_XML, \
    UNBORN_CHILD, cin_file

FIXTURES = Path(__file__).resolve().parents[1] / "education" / "fixtures"
NS = {"m": "urn:m", "mx": "urn:mx"}

DOC = etree.fromstring(b"""<Root xmlns:mx="urn:mx"><Header><LEA> 999 </LEA><DateTime>2024-01-02T03:04:05</DateTime></Header>
<Rec mx:key="K1" plain="" n="12">
  <A>  one  <!-- c -->two<?pi x?> </A><A/><A>three</A><A><B>in<![CDATA[ cdata ]]></B>tail<B> b2 </B></A>
  <Empty></Empty><Sp>   </Sp><Num> 2023 </Num><Neg>-4.0</Neg><Frac>1.5</Frac><Exp>1e3</Exp><Plus>+1</Plus>
  <Flag>TRUE</Flag><Flag>no</Flag><Tab>a\tb\n c</Tab>
  <m:X xmlns:m="urn:m"><m:Y>ns-y</m:Y><Y>plain-y</Y></m:X>
  <Item><Id>1</Id></Item><Item><Id>2</Id><Id>2b</Id></Item><Item><Id/></Item>
  <Uni>caf\xc3\xa9 \xe2\x80\x83x</Uni>
</Rec></Root>""")
REC = DOC.find("Rec")

EXPRESSIONS = [
    "A", "A[1]", "A[2]", "A[4]/B", "A/B", "A/B[2]", "Empty", "Sp", "Missing", "Missing/Deeper", "@mx:key", "@plain",
    "@missing", "@n", "m:X/m:Y", "m:X/Y", "Item/Id", "Item[2]/Id", "Item[last()]/Id", "Item[position()=2]/Id[1]",
    "/Root/Header/LEA", "/Other/Header/LEA", "../Header/LEA", ".", "self::Rec", "self::Other", "A | Empty", "Missing | A",
    "Sp | Num", "Empty | Missing", "count(A)", "count(Item/Id) + 1", "count(Missing)", "concat(@mx:key, '-', count(A))",
    "normalize-space(A)", "normalize-space(Tab)", "normalize-space(Uni)", "normalize-space()", "string(A[4])",
    "normalize-space(Sp)", "number(Num)", "number(Num) + 1", "concat(number(normalize-space(Num)) + 1, '-08-31')",
    "number(Neg)", "number(Frac)", "number(Exp)", "number(Plus)", "number(Missing)", "concat('', number(Missing))",
    "concat(number(Neg), '|', number(Neg) * 2)", "-count(A)", "boolean(A)", "boolean(Missing)", "not(Sp)",
    "not(Sp[normalize-space()])", "boolean(Num[normalize-space()])", "Flag = 'TRUE'", "Flag = 'yes'", "Flag != 'no'",
    "A = Flag", "Num = 2023", "Num > 2000", "Num < 2000", "Num >= ' 2023'", "@n = 12", "@n <= 11", "Flag = true()",
    "Missing = false()", "1 = 1.0", "'a' != 'b'", "true() and Missing", "Missing or A", "(A | Missing)[2]",
    "(Missing | Item)[last()]/Id", "substring('UPN ', 1, 4 * boolean(Num))", "substring('UPN ', 1, 4 * boolean(Missing))",
    "substring('abcdef', 2)", "substring('abcdef', 1.5, 2.6)", "substring('abcdef', 0, 3)", "substring('abcdef', -1)",
    "substring('12345', 0 div 0, 3)", "substring(concat(' (', @mx:key, ')'), 1, 1000 * boolean(@mx:key))",
    "translate(normalize-space(Flag), 'TRUEYS', 'trueys')", "translate('abcabc', 'ab', 'B')",
    "contains('|true|1|yes|', concat('|', translate(normalize-space(Flag), 'TRUEYS', 'trueys'), '|'))",
    "Flag[contains('|true|1|yes|', concat('|', translate(normalize-space(.), 'TRUEYS', 'trueys'), '|'))]",
    "starts-with(A[3], 'th')", "string-length(Uni)", "Item[Id]", "Item[not(*)]", "Item[Id[normalize-space()]]/Id",
    "Item[2]/Id[2]/../Id[1]", "Item/preceding-sibling::A", "Item[3]/preceding-sibling::Item", "count(Item[3]/preceding-sibling::Item)",
    "Item[2]/Id/ancestor::Rec/@mx:key", "Item/Id/..", "concat(Item[2]/Id[1]/ancestor::Rec/@mx:key, ':', count(Item[2]/preceding-sibling::Item) + 1)",
    "translate(normalize-space(/Root/Header/DateTime), ':', '')", "/Root/Header[normalize-space(LEA)='999']",
    "*", "Item/*", "count(*)", "1 div 3", "7 mod 3", "concat(1.5, '')", "concat(12345678901, '')", "//A",
    "A/text()", "node()", "sum(Item/Id)", "number('2.5E1')", "Num = ' 1e0'",
]


def _key(value: Any) -> Any:
    """Comparable form: NaN equals NaN, values keep their type, elements their identity."""
    if isinstance(value, list):
        return [_key(v) for v in value]
    if isinstance(value, float) and value != value:
        return ("nan",)
    return (type(value).__name__, value if not isinstance(value, etree._Element) else id(value))


UNSUPPORTED = {"//A", "A/text()", "node()", "sum(Item/Id)", "1 div 3", "7 mod 3", "(Missing | Item)[last()]/Id",
               "substring('12345', 0 div 0, 3)"}


def _forced(expr: str) -> XPathExpr:
    """The expression on the Python evaluator even where compile_xpath would keep lxml (functions)."""
    reference = compile_xpath(expr, NS, fast=False)
    return XPathExpr(expr, reference._xpath, compile_fast_xpath(expr, NS), _child_tags(expr, NS))


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_compiled_expression_gives_lxml_answer(expr: str) -> None:
    fast = _forced(expr)
    assert (fast.fast_first is None) == (expr in UNSUPPORTED)
    reference = compile_xpath(expr, NS, fast=False)
    assert reference.fast_first is None
    assert _key(fast.all(REC)) == _key(reference.all(REC))
    assert _key(fast.first(REC)) == _key(reference.first(REC))
    if fast.fast_first is not None:
        cache: dict[Any, Any] = {}
        for _ in range(2):  # cold and warm per-record child index
            assert _key(fast.fast_first(REC, cache)) == _key(reference.first(REC))
            assert _key(fast.fast_all(REC, cache)) == _key(reference.all(REC))
    for item in REC.findall("Item") + REC.findall("A"):
        assert _key(fast.all(item)) == _key(reference.all(item)), item.sourceline


def test_paths_run_in_python_and_function_expressions_stay_lxml() -> None:
    assert compile_xpath("Child/UPN").fast_first is not None
    assert compile_xpath("Forename | BasicDetails/Forename").fast_first is not None
    assert compile_xpath("CINPlanDates[1]/CINPlanStartDate").fast_first is not None
    assert compile_xpath("@mx:key", NS).fast_first is not None
    assert compile_xpath("concat(A, B)").fast_first is None  # compiled, but lxml is as quick
    assert compile_fast_xpath("concat(A, B)", {}) is not None
    for unsupported in ("//A", "A/text()", "sum(A)", "1 div 3", "$v", "p:A"):
        assert compile_fast_xpath(unsupported, {}) is None, unsupported
    for name in ("ctf.yaml", "cin.yaml", "ssda903.yaml"):
        paths = _paths(load_spec(mappings_dir() / name).rules)
        assert sum(p.fast_first is not None for p in paths) > len(paths) // 2, name


def test_non_element_nodes_give_no_values() -> None:
    path = compile_xpath("A")
    assert path.fast_first("text", {}) is None
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


# --- whole specs: compiled paths vs lxml-only paths -------------------------------------------


@pytest.fixture(params=["default", "every-expression"])
def evaluator(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Specs as shipped, and with every expression in the subset on the Python evaluator."""
    if request.param == "every-expression":
        monkeypatch.setattr(xpath_module, "_pays_off", lambda expr: True)
    return request.param


def _load_both(spec: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    fast = load_spec(spec)
    with monkeypatch.context() as patch:
        patch.setattr(xpath_module, "compile_fast_xpath", lambda expr, ns: None)
        reference = load_spec(spec)
    assert fast._fast is not None and reference._fast is not None
    assert not any(p.fast_first is not None for p in _paths(reference.rules))
    return fast, reference


def _outcome(mapping: Any, native: Any, position: Any) -> tuple[str, Any]:
    try:
        return "ok", json.loads(mapping.translate(native, position).model_dump_json())
    except RecordError as exc:
        return "error", str(exc)


def _compare(fast: Any, reference: Any, records: list[tuple[Any, Any]]) -> dict[str, int]:
    seen = {"ok": 0, "error": 0}
    for native, position in records:
        expected = _outcome(reference, native, position)
        assert _outcome(fast, native, position) == expected, position
        # the interpreter (exact-error path) with compiled paths agrees too
        try:
            interpreted: Any = ("ok", json.loads(fast.model.model_validate(fast._interpret(native, position))
                                                 .model_dump_json()))
        except RecordError as exc:
            interpreted = ("error", str(exc))
        except Exception:  # noqa: BLE001 - validation errors are reported by translate(), compared above
            interpreted = expected
        assert interpreted == expected, position
        seen[expected[0]] += 1
    return seen


def test_ctf_fixtures_and_synthetic_variants(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, evaluator: str) -> None:
    fast, reference = _load_both(mappings_dir() / "ctf.yaml", monkeypatch)
    files = sorted(FIXTURES.glob("ctf-*.xml"))
    population = generate_population(4242, as_of=date(2024, 7, 1))
    for variant in ("standard", "supplier"):
        path = tmp_path / f"synthetic-{variant}.xml"
        path.write_bytes(ctf_from_population(population, variant=variant, dest_la="MMM" if variant == "supplier"
                                             else None))
        files.append(path)
    total = {"ok": 0, "error": 0}
    for path in files:
        for native, position in read_ctf(path, fast):
            before = etree.tostring(native)
            seen = _compare(fast, reference, [(native, position)])
            assert etree.tostring(native) == before  # neither path changes the record
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


def test_messy_ctf_gives_identical_records_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, evaluator: str) -> None:
    fast, reference = _load_both(mappings_dir() / "ctf.yaml", monkeypatch)
    path = tmp_path / "messy.xml"
    path.write_text(MESSY_CTF, encoding="utf-8")
    seen = {"ok": 0, "error": 0}
    for native, position in read_ctf(path, fast):
        for k, v in _compare(fast, reference, [(native, position)]).items():
            seen[k] += v
    assert seen["ok"] >= 1 and seen["error"] >= 1


def _namespaced(text: str) -> str:
    return text.replace("<Message>", '<Message xmlns="http://www.dfe.gov.uk/CoreSchema/CIN">')


@pytest.mark.parametrize("namespaced", [False, True])
def test_cin_fixtures_give_identical_records_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        namespaced: bool, evaluator: str) -> None:
    fast, reference = _load_both(mappings_dir() / "cin.yaml", monkeypatch)
    text = cin_file("\n".join([BORN_CHILD, UNBORN_CHILD, MESSY_CHILD, BAD_CHILD, NO_LA_ID_CHILD]))
    path = tmp_path / "cin.xml"
    path.write_text(_namespaced(text) if namespaced else text, encoding="utf-8")
    seen = {"ok": 0, "error": 0}
    for native, position in CinReader()(path, fast, None):
        for k, v in _compare(fast, reference, [(native, position)]).items():
            seen[k] += v
    assert seen["ok"] >= 3 and seen["error"] >= 1
    synthetic = tmp_path / "synthetic.xml"
    write_cin_file(synthetic, children=60)
    if namespaced:
        synthetic.write_text(_namespaced(synthetic.read_text(encoding="utf-8")), encoding="utf-8")
    records = 0
    for native, position in CinReader()(synthetic, fast, None):
        _compare(fast, reference, [(native, position)])
        records += 1
    assert records == 60


def test_ssda903_xml_gives_identical_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, evaluator: str) -> None:
    fast, reference = _load_both(mappings_dir() / "ssda903.yaml", monkeypatch)
    path = tmp_path / "ssda903.xml"
    path.write_text(SSDA903_XML, encoding="utf-8")
    seen = {"ok": 0, "error": 0}
    for native, position in Ssda903Reader(la_code="999")(path, fast, None):
        for k, v in _compare(fast, reference, [(native, position)]).items():
            seen[k] += v
    assert seen["ok"] >= 1


def test_detached_records_fall_back_to_lxml_for_the_document_node() -> None:
    """``..`` from a tree's root element reaches the document node: lxml decides, same answer."""
    root = copy.deepcopy(REC)
    for expr in ("../Header/LEA", "..", "/Rec/@n", "count(ancestor::*)"):
        assert _key(_forced(expr).all(root)) == _key(compile_xpath(expr, NS, fast=False).all(root)), expr


def test_comment_inside_a_leaf_is_not_structure_on_either_path() -> None:
    from lxml import etree

    record = etree.fromstring("<R><SchoolName>Example <!-- stray --> School</SchoolName><B><C>1</C></B></R>")
    for fast in (True, False):
        path = compile_xpath("SchoolName", {}, fast=fast)
        assert path.first(record) == "Example  School"
        if path.fast_first is not None:
            assert path.fast_first(record, {}) == "Example  School"
        structured = compile_xpath("B", {}, fast=fast).first(record)
        assert getattr(structured, "tag", None) == "B"
