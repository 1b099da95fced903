"""The generated fast path must be indistinguishable from the rule interpreter.

``CompiledMapping`` translates a record with the generated function first and
falls back to the interpreter when that gives up. These tests translate the
same native records with a mapping whose fast path is switched off and with
the normal one, and require identical canonical output, identical
rejections (every issue: field, rule, native path, spec line, item) and
identical plain dicts; and they check the fast path really is taken for good
records, so a codegen bug cannot hide behind the fallback.
"""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from mashlink.bench.mapping import _csv_text, _records
from mashlink.mapping import (
    CompiledMapping,
    Position,
    RecordError,
    load_spec,
    mappings_dir,
    read_csv,
    read_hl7v2,
    read_json,
    read_xml,
)
from mashlink.mapping import transforms as transforms_module
from mashlink.mapping.codegen import INLINE_TRANSFORMS, writes_through_values
from mashlink.schemas.identifiers import nhs_check_digit

DATA = Path(__file__).parent / "data"
POS = Position("native.json", 1, path="$[0]")


def _pair(spec: Path) -> tuple[CompiledMapping, CompiledMapping]:
    """(normal mapping, the same spec with the fast path switched off)."""
    fast = load_spec(spec)
    slow = load_spec(spec)
    slow._fast = None
    assert fast._fast is not None, f"{spec.name} should get a generated fast path"
    return fast, slow


def _outcome(mapping: CompiledMapping, native: Any) -> tuple[Any, ...]:
    try:
        record = mapping.translate(native, POS)
    except RecordError as exc:
        return ("rejected", str(exc), exc.issues, exc.position)
    except Exception as exc:  # noqa: BLE001 - whatever the interpreter does, the fast path must do too
        return ("raised", type(exc).__name__, str(exc))
    return ("ok", record.model_dump(mode="json"))


def _dict_outcome(mapping: CompiledMapping, native: Any) -> tuple[Any, ...]:
    try:
        return ("ok", mapping.translate_dict(native, POS))
    except RecordError as exc:
        return ("rejected", str(exc))
    except Exception as exc:  # noqa: BLE001
        return ("raised", type(exc).__name__, str(exc))


def _assert_same(fast: CompiledMapping, slow: CompiledMapping, native: Any) -> tuple[Any, ...]:
    expected = _outcome(slow, native)
    assert _outcome(fast, native) == expected
    assert _dict_outcome(fast, native) == _dict_outcome(slow, native)
    generated = fast._fast(native)
    if generated is not None:  # when the fast path answers, it answers what the interpreter builds
        assert ("ok", generated) == _dict_outcome(slow, native)
    return expected


# --- native records with good, odd and bad values -------------------------------------

def _nhs(body: int) -> str:
    nine = f"999{body:06d}"
    check = nhs_check_digit(nine)
    return nine + str(check if check is not None else 0)


WORDS = st.sampled_from(["amy", "BEN", " cara  lee ", "o'brien", "mcdonald", "", "  ", "x", "Zoë"])
MAYBE = st.one_of(st.none(), st.just(""), st.integers(-3, 30), WORDS)
DATES = st.sampled_from(["03/04/2015", "3/4/15", "2015-04-03", "20150403", "31/02/2020", "99/99/9999",
                         "not a date", "", "01/01/2099", "2024-01-05T10:00:00Z", "11/07/16"])
NHS = st.one_of(st.integers(0, 999_999).map(_nhs), st.sampled_from(["999 100 0003", "123", "", "999-100-0003"]))
GENDERS = st.sampled_from(["1", "2", "9", "0", " 2 ", "x", "", "male"])
ETHNICITY = st.sampled_from(["WBRI", " wbri ", "MWBC", "ZZZZ", "", "A", "refu"])
POSTCODES = st.sampled_from(["ls11aa", "M1 1AE", "b33 8th", "NOTAPOSTCODE", "", "gir0aa", "SW1A 1AA"])
TYPES = st.sampled_from(["referral", " Referral ", "assessment", "s47", "cp_plan", "unknown", ""])
FACTORS = st.one_of(st.lists(st.sampled_from(["3A", "10a", " 24A ", "ZZ", "", "1B"]), max_size=3),
                    st.sampled_from(["3A", "", "zz"]))
CODES = st.sampled_from(["2A", "2a", " N1 ", "N4", "N1", "ZZ", "", "1A"])
RELATIONSHIPS = st.sampled_from(["mum", "Dad", " carer ", "stranger", "", "sibling"])
BOOLS = st.sampled_from(["Y", "n", "yes", "false", "maybe", "", "1"])


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(None), strategy)


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


child = st.builds(
    lambda *values: _drop_none(dict(zip(
        ["forename", "middle_names", "surname", "dob", "gender", "ethnicity", "nhs_number", "upn", "address"],
        values))),
    _optional(WORDS), _optional(WORDS), _optional(WORDS), _optional(DATES), _optional(GENDERS),
    _optional(ETHNICITY), _optional(NHS), _optional(st.sampled_from(["", "A123456789012", "UN1", "bad"])),
    _optional(st.one_of(
        st.builds(lambda l1, l2, t, p: _drop_none({"line1": l1, "line2": l2, "town": t, "postcode": p}),
                  _optional(WORDS), _optional(WORDS), _optional(WORDS), _optional(POSTCODES)),
        st.just("12 Some Street"))),
)
record_item = st.builds(
    lambda *values: _drop_none(dict(zip(
        ["id", "type", "date", "end_date", "summary", "factors", "referral_source", "primary_need",
         "category_of_abuse"], values))),
    MAYBE, _optional(TYPES), _optional(DATES), _optional(DATES), _optional(WORDS), _optional(FACTORS),
    _optional(CODES), _optional(CODES), _optional(st.sampled_from(["PHY", "neg", "", "zz"])),
)
contact = st.builds(
    lambda *values: _drop_none(dict(zip(
        ["id", "forename", "surname", "dob", "relationship", "parental_responsibility", "lives_with_child"],
        values))),
    MAYBE, _optional(WORDS), _optional(WORDS), _optional(DATES), _optional(RELATIONSHIPS), _optional(BOOLS),
    _optional(BOOLS),
)
json_case = st.builds(
    lambda *values: _drop_none(dict(zip(["id", "la_code", "system", "child", "records", "contacts"], values))),
    st.one_of(st.sampled_from(["C-1", "C-2", "", " "]), st.integers(0, 5), st.none()),
    _optional(st.sampled_from(["999", "", "201"])),
    _optional(WORDS),
    _optional(st.one_of(child, st.just("not an object"), st.lists(child, max_size=2))),
    _optional(st.one_of(st.lists(record_item, max_size=3), record_item, st.just("x"))),
    _optional(st.one_of(st.lists(contact, max_size=2), contact)),
)

CSV_COLUMNS = {
    "child_id": st.sampled_from(["C-1", "C-2", ""]), "la_code": st.sampled_from(["999", ""]),
    "forename": WORDS, "middle_names": WORDS, "surname": WORDS, "dob": DATES, "gender": GENDERS,
    "ethnic_category": st.sampled_from(["A", "b", "Z", "", "QQ"]), "nhs_number": NHS,
    "address_line1": WORDS, "address_line2": WORDS, "town": WORDS, "postcode": POSTCODES,
    "referral_id": st.sampled_from(["R-1", ""]), "referral_date": DATES, "referral_source": CODES,
    "primary_need": CODES, "assessment_factors": st.sampled_from(["3A;10A", "", "3a", "ZZ;3A", " ; "]),
    "on_cp_plan": BOOLS,
}
csv_row = st.fixed_dictionaries(CSV_COLUMNS)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def json_pair() -> tuple[CompiledMapping, CompiledMapping]:
    return _pair(mappings_dir() / "generic-json.yaml")


@pytest.fixture(scope="module")
def csv_pair() -> tuple[CompiledMapping, CompiledMapping]:
    return _pair(mappings_dir() / "generic-csv.yaml")


@SETTINGS
@given(native=json_case)
def test_generic_json_fast_path_matches_interpreter(json_pair: Any, native: dict[str, Any]) -> None:
    _assert_same(*json_pair, native)


@SETTINGS
@given(native=csv_row)
def test_generic_csv_fast_path_matches_interpreter(csv_pair: Any, native: dict[str, str]) -> None:
    _assert_same(*csv_pair, native)


def test_generated_cases_cover_both_outcomes(json_pair: Any) -> None:
    """The generators above must produce good and rejected records, or the comparison proves little."""
    fast, slow = json_pair
    for wanted in ("ok", "rejected"):
        found = find(json_case, lambda native, w=wanted: _outcome(slow, native)[0] == w,
                     settings=settings(max_examples=2000, database=None))
        assert _assert_same(fast, slow, found)[0] == wanted


def test_good_records_take_the_fast_path(json_pair: Any, csv_pair: Any) -> None:
    fast_json, slow_json = json_pair
    for native in _records(200, seed=3):
        built = fast_json._fast(native)
        assert built is not None
        assert built == slow_json.translate_dict(native, POS)
    fast_csv, slow_csv = csv_pair
    rows = _csv_text(_records(50, seed=4)).splitlines()
    header = rows[0].split(",")
    for line in rows[1:]:
        native = dict(zip(header, line.split(",")))
        assert fast_csv._fast(native) is not None
        assert _outcome(fast_csv, native) == _outcome(slow_csv, native)


@pytest.mark.parametrize("spec, reader, data", [
    ("generic-json.yaml", read_json, "cases.json"),
    ("generic-json.yaml", read_json, "bad_cases.json"),
    ("generic-json.yaml", read_json, "all_bad.json"),
    ("generic-csv.yaml", read_csv, "cases.csv"),
    ("generic-csv.yaml", read_csv, "bad_cases.csv"),
    ("cin-person.yaml", read_xml, "cin.xml"),
    ("fhir-person.yaml", read_json, "patient.fhir.json"),
    ("hl7-person.yaml", read_hl7v2, "adt.hl7"),
])
def test_sample_files_translate_identically(spec: str, reader: Any, data: str) -> None:
    spec_path = mappings_dir() / spec if spec.startswith("generic") else DATA / spec
    fast, slow = _pair(spec_path)
    results = []
    for native, position in reader(DATA / data, fast):
        if not hasattr(native, "message"):  # RowProblem: never reaches a mapping
            results.append(_assert_same(fast, slow, native))
    assert results, f"{data} produced no records"


def test_required_value_inside_an_absent_object_is_not_an_error(tmp_path: Path) -> None:
    """The interpreter forgets such an issue when the object is left out; the fast path must agree."""
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "spec: t\ntarget: AgencyRecord\nlanguage: json\nrules:\n"
        "  - {target: source.agency_kind, const: social_care}\n"
        "  - {target: source.system, const: s}\n"
        "  - {target: source.record_id, source: id, required: true}\n"
        "  - {target: person.person_id, source: id}\n"
        "  - target: person.identifiers[]\n"
        "    rules:\n"
        "      - {target: system, const: upn}\n"
        "      - {target: value, source: upn, required: true}\n"
        "      - {target: scope, source: la}\n"
        "  - target: person.ethnicity\n"
        "    required: true\n"
        "    rules:\n"
        "      - {target: code_set, const: dfe}\n"
        "      - {target: code, source: eth}\n",
        encoding="utf-8",
    )
    fast, slow = _pair(spec)
    absent = {"id": "C-1", "eth": "WBRI"}
    assert fast._fast(absent) is not None  # handled without the interpreter
    assert _assert_same(fast, slow, absent)[0] == "ok"
    half = {"id": "C-1", "eth": "WBRI", "la": "999"}  # object found, its required value missing
    assert fast._fast(half) is None
    outcome = _assert_same(fast, slow, half)
    assert outcome[0] == "rejected" and "person.identifiers[].value" in outcome[1] and "required" in outcome[1]
    no_object = {"id": "C-1"}  # a required object with nothing in it
    outcome = _assert_same(fast, slow, no_object)
    assert outcome[0] == "rejected" and "person.ethnicity" in outcome[1]


def test_writing_into_a_value_keeps_the_interpreter(tmp_path: Path) -> None:
    """A rule writing inside another rule's value could change the native record: no fast path."""
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "spec: t\ntarget: AgencyRecord\nlanguage: json\nrules:\n"
        "  - {target: source, source: src}\n"
        "  - {target: source.system, const: overridden}\n"
        "  - {target: person.person_id, source: id}\n",
        encoding="utf-8",
    )
    mapping = load_spec(spec)
    assert mapping._fast is None and writes_through_values(mapping.rules)
    native = {"id": "C-1", "src": {"agency_kind": "social_care", "system": "x", "record_id": "C-1"}}
    record = mapping.translate(native, POS)
    assert record.source.system == "overridden"


@given(st.one_of(st.text(alphabet=string.printable + "\u00a0\u2003é٣", max_size=12), st.integers(), st.none()))
@settings(max_examples=200, deadline=None)
def test_inlined_transforms_agree_with_their_factories(value: Any) -> None:
    for factory, template in INLINE_TRANSFORMS.items():
        expected = factory(None)(value)
        operand = value if isinstance(value, str) else str(value)
        inline = eval(template.format("operand"), {"_NON_DIGITS": __import__("re").compile(r"\D")},  # noqa: S307
                      {"operand": operand})
        assert inline == expected, factory.__name__
        assert eval(template.format('""'), {"_NON_DIGITS": __import__("re").compile(r"\D")}) == ""  # noqa: S307
    assert set(INLINE_TRANSFORMS) <= set(transforms_module.TRANSFORMS.values())


def test_generated_source_is_kept_for_inspection() -> None:
    mapping = load_spec(mappings_dir() / "generic-json.yaml")
    source = mapping._fast.source  # type: ignore[union-attr]
    assert source.startswith("def _translate(record):")
    compile(source, "<check>", "exec")
    json.dumps(source)
