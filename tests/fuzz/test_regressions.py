"""One regression per crash class of issue 18, each through the real ``mashlink translate`` and the oracle.

Every input below once crashed or corrupted the output (issue 18's list). Each
test runs the command in-process (``oracle.run_in_process``; the memory case as
a subprocess under ``RLIMIT_AS``), requires the oracle to hold (exit 0 or 1, no
traceback, valid canonical output, no repr, inside the deadline) and checks the
clear message that replaced the crash. Deeper tests of the same fixes live
beside the code: ``tests/mapping/test_mapping_safe_json.py`` (depth, digits,
size, value count), ``tests/police/test_police_grading.py`` (lists where ids
belong), ``tests/social_care/test_social_care_field_inputs.py`` (SSDA903 CSV
names and control characters), ``tests/mapping/test_mapping_xml_mutations.py``
(element in a leaf, fast == general), ``tests/mapping/test_mapping_input_cost.py``
(items per rule, repeated CTF Header), ``tests/health/test_health_field_inputs.py``
(HL7 empty-field runs, caps) and ``tests/ops/test_translate_exit_paths.py``
(SIGTERM leaves no ``.part`` file).
"""

from __future__ import annotations

import json
import re

import pytest

from tests.fuzz.oracle import REPR, Outcome, run_in_process, run_subprocess
from tests.fuzz.seeds import all_seeds
from tests.social_care.sc_fixtures import BORN_CHILD, MESSY_CHILD, SSDA903_EPISODES, SSDA903_HEADER, cin_file

DEEP = 100_000
DIGITS = "9" * 5_000


def _seed(fmt: str, index: int = 0) -> tuple[dict[str, bytes], tuple[str, ...]]:
    if fmt == "cin":  # the hand-written census with every element the spec reads
        return {"cin.xml": cin_file("\n".join([BORN_CHILD, MESSY_CHILD])).encode()}, ("--la", "999")
    if fmt == "ctf":
        seed = next(s for s in all_seeds()["ctf"] if s.name.endswith("ctf-standard.xml"))
    else:
        seed = all_seeds()[fmt][index]
    return dict(seed.files), seed.args


def _holds(outcome: Outcome) -> Outcome:
    assert outcome.failure is None, str(outcome.failure)
    assert outcome.exit_code in (0, 1)
    assert not REPR.search(outcome.stdout), outcome.stdout[:300]
    return outcome


def _with_value(fmt: str, raw: str) -> tuple[dict[str, bytes], tuple[str, ...]]:
    """The format's first JSON seed with ``raw`` (JSON text) as the value of a new top-level key."""
    files, args = _seed(fmt)
    name = next(n for n in files if n.endswith(".json"))
    text = files[name].decode("utf-8").rstrip()
    assert text.endswith("}")
    files[name] = (text[:-1] + ', "zz_fuzz": ' + raw + "}").encode("utf-8")
    return files, args


# --- JSON, FHIR and POLE: RecursionError and int conversion ValueError -------------------------

@pytest.mark.parametrize("fmt", ["json", "fhir", "pole"])
def test_deeply_nested_json_is_an_input_error_naming_the_limit(fmt: str) -> None:
    files, args = _with_value(fmt, "[" * DEEP + "]" * DEEP)
    outcome = _holds(run_in_process(fmt, files, args))
    assert outcome.exit_code == 1
    assert "nested too deeply" in outcome.stderr and "MASHLINK_JSON_MAX_DEPTH" in outcome.stderr


@pytest.mark.parametrize("fmt", ["json", "fhir", "pole"])
def test_a_number_past_the_int_conversion_limit_is_an_input_error(fmt: str) -> None:
    files, args = _with_value(fmt, DIGITS)
    outcome = _holds(run_in_process(fmt, files, args))
    assert outcome.exit_code == 1 and "number too long" in outcome.stderr


# --- POLE: a list or object where a scalar is expected (TypeError: unhashable type) --------------

@pytest.mark.parametrize("where,value", [("links.0.to_id", ["EV-21", "EV-22"]), ("persons.0.person_id", {"a": 1}),
                                         ("events.0.event_id", [1, 2])])
def test_pole_structure_where_an_id_belongs_is_a_problem_not_a_crash(where: str, value: object) -> None:
    files, args = _seed("pole")
    doc = json.loads(files["pole-example.json"])
    node = doc
    *path, last = where.split(".")
    for part in path:
        node = node[int(part)] if part.isdigit() else node[part]
    node[last] = value
    files["pole-example.json"] = json.dumps(doc).encode()
    outcome = _holds(run_in_process("pole", files, args))
    assert "unhashable" not in outcome.stderr and "TypeError" not in outcome.stderr
    assert last in outcome.stderr


# --- SSDA903 CSV: names that are not XML names, control characters (lxml ValueError) ------------

def test_ssda903_csv_header_and_value_that_lxml_refuses() -> None:
    header = SSDA903_HEADER.replace("CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB", "CHILD,SEX,DOB,ETHNIC,UPN,1MOTHER,MC DOB")
    episodes = SSDA903_EPISODES.replace("CARPL", "CAR\x01PL\x0b")
    files = {"header.csv": header.encode(), "episodes.csv": episodes.encode()}
    outcome = _holds(run_in_process("ssda903", files, ("--la", "999")))
    assert outcome.exit_code == 0 and outcome.records > 0
    assert "not valid XML names" in outcome.stderr
    assert "\x01" not in outcome.stdout and "\\u0001" not in outcome.stdout


# --- XML leaves holding elements; JSON objects for scalars: never a repr ------------------------

@pytest.mark.parametrize("fmt,old,new", [
    ("ctf", "<Surname>", "<Surname><b>x</b>"),
    ("cin", "<LAchildID>", "<LAchildID><X>LA</X>"),
    ("cin", "<CINreferralDate>", "<CINreferralDate><X/>"),
    ("ssda903", "<CHILDID>", "<CHILDID><X>1</X>"),
])
def test_an_element_inside_a_leaf_is_a_structure_error_never_a_repr(fmt: str, old: str, new: str) -> None:
    files, args = _seed(fmt)
    name = next(iter(files))
    text = files[name].decode("utf-8")
    assert old in text, (fmt, old)
    files[name] = text.replace(old, new).encode("utf-8")
    outcome = _holds(run_in_process(fmt, files, args))
    assert "at 0x" not in outcome.stdout + outcome.stderr
    assert "structure" in outcome.stderr


def test_an_nhs_number_element_wrapping_an_element_never_yields_digits_of_an_address() -> None:
    files, args = _seed("cin")
    text = files["cin.xml"].decode("utf-8")
    wrapped = re.sub(r"<NHSNumber>([^<]*)</NHSNumber>", r"<NHSNumber><X>\1</X></NHSNumber>", text)
    assert wrapped != text
    files["cin.xml"] = wrapped.encode("utf-8")
    outcome = _holds(run_in_process("cin", files, args))
    digits_in = set(re.findall(r"\d{9,}", wrapped))
    for record in json.loads(outcome.stdout or "[]"):
        for ident in record["person"]["identifiers"]:
            if ident["system"] == "nhs_number":
                assert ident["value"] in digits_in


def test_generic_json_object_for_a_surname_is_a_structure_error() -> None:
    files, args = _seed("json")
    doc = json.loads(files["cases.json"])
    doc["cases"][0]["child"]["surname"] = {"A": ["Testerson"]}
    files["cases.json"] = json.dumps(doc).encode()
    outcome = _holds(run_in_process("json", files, args))
    assert "{'A'" not in outcome.stdout and "structure" in outcome.stderr


# --- small files, large costs -------------------------------------------------------------------

def test_ctf_repeated_header_blocks_are_refused_before_quadratic_work() -> None:
    files, args = _seed("ctf")
    name = next(iter(files))
    text = files[name].decode("utf-8")
    start, end = text.index("<Header>"), text.index("</Header>") + len("</Header>")
    files[name] = (text[:end] + text[start:end] * 800 + text[end:]).encode("utf-8")
    outcome = _holds(run_in_process("ctf", files, args))
    assert outcome.exit_code == 1 and "one Header" in outcome.stderr


def test_a_for_each_expanding_past_the_item_limit_rejects_the_record_naming_it() -> None:
    files, args = _seed("json")
    doc = json.loads(files["cases.json"])
    doc["cases"][0]["records"] = doc["cases"][0]["records"][:1] * 10_050
    files["cases.json"] = json.dumps(doc).encode()
    outcome = _holds(run_in_process("json", files, args))
    assert "MASHLINK_MAX_ITEMS_PER_RULE" in outcome.stderr


def test_hl7_long_runs_of_empty_fields_stay_within_memory_as_a_process() -> None:
    files, args = _seed("hl7v2")
    message = files["adt.hl7"].decode("utf-8").rstrip("\r\n")
    big = "\r".join([message + "\rZZZ" + "|" * 900_000] * 4) + "\r"   # about 3.6 MB, four messages
    outcome = _holds(run_subprocess("hl7v2", {"adt.hl7": big.encode()}, args))
    assert outcome.exit_code in (0, 1)


def test_hl7_file_over_the_cap_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASHLINK_HL7_MAX_FILE_BYTES", "1000")
    files, args = _seed("hl7v2")
    files["adt.hl7"] = files["adt.hl7"] * 20
    outcome = _holds(run_in_process("hl7v2", files, args))
    assert outcome.exit_code == 1 and "MASHLINK_HL7_MAX_FILE_BYTES" in outcome.stderr


# --- found by the fuzzing suite itself ----------------------------------------------------------

def test_ctf_attendance_count_past_the_int_conversion_limit() -> None:
    """``mashlink bench fuzz`` found it: a 4,592-digit SessionsUnauthorised raised ValueError in the
    CTF reader's attendance annotation (int string conversion limit). Not a count: no percentage, no crash."""
    files, args = _seed("ctf")
    name = next(iter(files))
    text = files[name].decode("utf-8")
    assert "<SessionsUnauthorised>" in text
    files[name] = re.sub(r"<SessionsUnauthorised>[^<]*<", "<SessionsUnauthorised>" + DIGITS + "<", text,
                         count=1).encode("utf-8")
    outcome = _holds(run_in_process("ctf", files, args))
    assert "ValueError" not in outcome.stderr and "4300" not in outcome.stderr
