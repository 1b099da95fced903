"""Differential property test: XML leaves that wrap child elements (issue 18).

Field extracts of CTF, CIN and SSDA903 sometimes put an element inside what
the schema says is a leaf (``<Surname>o'brien<b>x</b></Surname>``,
``<UPN><X>UN2</X></UPN>``). Such a value used to reach the canonical record
as a Python repr (``<Element b at 0x7f...>``). Now it is a ``structure``
issue on that field. Here hypothesis mutates leaves of the DfE fixtures and
checks, for every record, that it translates the same way twice without
changing the input, and that no accepted record or error holds a repr.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from mashlink.connectors.education.ctf_reader import read_ctf
from mashlink.connectors.social_care.cin import CinReader
from mashlink.connectors.social_care.ssda903 import Ssda903Reader
from mashlink.mapping import load_spec, mappings_dir
from mashlink.mapping.errors import Position, RecordError
from tests.mapping.test_mapping_xml_paths import MESSY_CTF, _check
from tests.social_care.sc_fixtures import BAD_CHILD, BORN_CHILD, MESSY_CHILD, SSDA903_XML, cin_file

#: A Python repr leaking into a message (``<lxml.etree._Element Pupil at 0x7f…>``); a temporary
#: directory named ``tmp…0x…`` is not one.
REPR = re.compile(r"\bat 0x[0-9a-f]{4,}|<[\w.]+ object at")

CTF_TEXT = (Path(__file__).resolve().parents[1] / "education" / "fixtures" / "ctf-standard.xml").read_text(
    encoding="utf-8")

FORMATS: dict[str, tuple[str, str, Any]] = {
    "ctf-messy": ("ctf.yaml", MESSY_CTF, lambda path, m: read_ctf(path, m)),
    "ctf-standard": ("ctf.yaml", CTF_TEXT, lambda path, m: read_ctf(path, m)),
    "cin": ("cin.yaml", cin_file("\n".join([BORN_CHILD, MESSY_CHILD, BAD_CHILD])),
            lambda path, m: CinReader()(path, m, None)),
    "ssda903": ("ssda903.yaml", SSDA903_XML, lambda path, m: Ssda903Reader(la_code="999")(path, m, None)),
}

_SPECS: dict[str, Any] = {}


def _spec(name: str) -> Any:
    """A shipped spec, loaded once."""
    if name not in _SPECS:
        _SPECS[name] = load_spec(mappings_dir() / name)
    return _SPECS[name]


def _leaves(root: etree._Element) -> list[etree._Element]:
    return [el for el in root.iter() if isinstance(el.tag, str) and len(el) == 0 and el is not root]


MUTATIONS = ["child", "wrap", "child-and-tail", "empty-child", "comment", "two-children"]


def _mutate(el: etree._Element, kind: str, text: str) -> None:
    if kind == "child":
        etree.SubElement(el, "b").text = text
    elif kind == "wrap":
        inner = etree.SubElement(el, "X")
        inner.text, el.text = el.text, None
    elif kind == "child-and-tail":
        child = etree.SubElement(el, "i")
        child.text, child.tail = text, " tail"
    elif kind == "empty-child":
        etree.SubElement(el, "br")
    elif kind == "comment":
        el.append(etree.Comment(" stray "))
    elif kind == "two-children":
        etree.SubElement(el, "a").text = text
        etree.SubElement(el, "a").text = el.text or "x"


REPR_MARKS = ("<element", " at 0x", "at0x", "{'", "['")


def _no_repr(value: Any) -> None:
    text = json.dumps(value).lower()
    for mark in REPR_MARKS:
        assert mark not in text, (mark, text[:300])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fmt=st.sampled_from(sorted(FORMATS)),
       picks=st.lists(st.tuples(st.integers(min_value=0, max_value=10_000), st.sampled_from(MUTATIONS),
                                st.sampled_from(["x", "9991000003", " 2015-04-03 ", "Smith"])),
                      min_size=1, max_size=4))
def test_element_in_leaf_never_leaks_a_repr(fmt: str, picks: list[tuple[int, str, str]]) -> None:
    spec, text, read = FORMATS[fmt]
    root = etree.fromstring(text.encode("utf-8"))
    leaves = _leaves(root)
    for index, kind, value in picks:
        _mutate(leaves[index % len(leaves)], kind, value)
    mapping = _spec(spec)
    seen = {"ok": 0, "error": 0}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mutated.xml"
        path.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
        # the DfE readers stream: a record is valid only until the next one is read
        for native, position in read(path, mapping):
            for k, v in _check(mapping, [(native, position)]).items():
                seen[k] += v
            try:
                record = mapping.translate(native, position)
            except RecordError:
                continue
            _no_repr(json.loads(record.model_dump_json()))
    assert seen["ok"] + seen["error"] > 0


@pytest.mark.parametrize("spec,xml,field", [
    ("ctf.yaml", MESSY_CTF.replace("<Surname>o'brien</Surname>", "<Surname>o'brien<b>x</b></Surname>"),
     "person.names[0].family"),
    ("ctf.yaml", MESSY_CTF.replace("<UPN>UN2</UPN>", "<UPN><X>UN2</X></UPN>"), "person.identifiers[].value"),
])
def test_element_in_leaf_is_a_structure_error_naming_the_field(tmp_path: Path, spec: str, xml: str,
                                                                field: str) -> None:
    mapping = _spec(spec)
    path = tmp_path / "leaf.xml"
    path.write_text(xml, encoding="utf-8")
    messages = []
    for native, position in read_ctf(path, mapping):
        try:
            mapping.translate(native, position)
        except RecordError as exc:
            messages.append(str(exc))
    assert any(f"{field} <- " in m and "structure: an element with child elements" in m for m in messages), messages
    assert not any(REPR.search(m) for m in messages)


def test_object_for_scalar_in_generic_json_is_a_structure_error(tmp_path: Path) -> None:
    from mashlink.mapping import default_registry
    from mashlink.mapping.errors import RecordError

    entry = default_registry().get("json")
    mapping = load_spec(entry.spec_path)
    data = json.loads((Path(__file__).parent / "data" / "cases.json").read_text(encoding="utf-8"))
    data["cases"][0]["child"]["surname"] = {"A": ["Testerson"]}
    data["cases"][0]["child"]["nhs_number"] = {"v": {"x": "999 100 0003"}}
    path = tmp_path / "obj.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    records = list(entry.reader(path, mapping))
    with pytest.raises(RecordError) as info:
        mapping.translate(*records[0])
    message = str(info.value)
    assert "person.names[0].family <- child.surname: structure: an object" in message
    assert "person.identifiers[].value <- child.nhs_number: structure: an object" in message
    assert mapping.translate(*records[1]).person.names[0].family == "Sampleton"
    assert isinstance(records[0][1], Position)
