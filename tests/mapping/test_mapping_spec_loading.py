"""Spec loading: every kind of mistake is reported with file, line and rule."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import BaseModel

from mashlink.mapping import Position, SpecErrors, load_spec
from mashlink.mapping.codes import default_codes_dir

HEAD = """\
spec: t
target: AgencyRecord
language: json
rules:
  - target: source.agency_kind
    const: social_care
"""


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors_of(path: Path, **kwargs) -> list:
    with pytest.raises(SpecErrors) as info:
        load_spec(path, **kwargs)
    return info.value.errors


def test_unknown_transform_names_file_line_and_rule(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + """\
  - target: person.person_id
    source: id
    transforms: [trim, shout]
""")
    (err,) = errors_of(path)
    assert err.file == str(path)
    assert err.line == 9
    assert "person.person_id" in err.rule
    assert "unknown transform 'shout'" in err.message


def test_bad_transform_arguments(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + """\
  - target: person.birth_date.value
    source: dob
    transforms:
      - date: {formats: [dd/qq/yyyy]}
""")
    (err,) = errors_of(path)
    assert err.line == 10
    assert "unknown token" in err.message


def test_bad_json_path_syntax(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + """\
  - target: person.person_id
    source: "identifier[system='x'.value"
""")
    (err,) = errors_of(path)
    assert err.line == 8
    assert "bad json path" in err.message


def test_bad_hl7_and_xpath_syntax(tmp_path: Path) -> None:
    hl7 = write(tmp_path, """\
spec: t
target: Person
language: hl7v2
rules:
  - target: person_id
    source: PID3.1
""", "hl7.yaml")
    (err,) = errors_of(hl7)
    assert err.line == 6 and "HL7 v2 path" in err.message
    xml = write(tmp_path, """\
spec: t
target: Person
language: xml
rules:
  - target: person_id
    source: x:Child/@id
""", "xml.yaml")
    (err,) = errors_of(xml)
    assert err.line == 6 and "namespaces" in err.message


def test_unknown_target_field(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + """\
  - target: person.nmaes[0].family
    source: surname
""")
    (err,) = errors_of(path)
    assert err.line == 7
    assert "unknown target field" in err.message and "nmaes" in err.message


def test_index_on_non_list_target(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + """\
  - target: person.sex[0]
    source: sex
""")
    (err,) = errors_of(path)
    assert "not a list" in err.message


def test_unknown_code_table(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + """\
  - target: person.sex
    source: gender
    code: sex-klingon
""")
    (err,) = errors_of(path)
    assert err.line == 9
    assert "unknown code table 'sex-klingon'" in err.message


def test_missing_required_keys_and_unknown_keys(tmp_path: Path) -> None:
    path = write(tmp_path, """\
spec: t
language: json
rules:
  - target: person.person_id
    sorce: id
""")
    errs = errors_of(path)
    messages = {(e.line, e.message) for e in errs}
    assert any("missing required key 'target'" in m for _, m in messages)
    assert (5, "unknown key 'sorce'") in messages


def test_rule_needs_exactly_one_source(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + """\
  - target: person.person_id
    source: id
    const: fixed
""")
    (err,) = errors_of(path)
    assert err.line == 7
    assert "exactly one of" in err.message


def test_const_checked_against_target_type(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + """\
  - target: person.sex
    const: mostly
""")
    (err,) = errors_of(path)
    assert err.line == 8 and "const is not valid for person.sex" in err.message


def test_code_table_values_checked_against_target(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + """\
  - target: person.sex
    source: gender
    code: local-sex
code_tables:
  local-sex:
    "1": male
    "2": femal
""")
    (err,) = errors_of(path)
    assert err.file == str(path)
    assert err.line == 13
    assert "femal" in err.message


def test_bad_yaml_and_unknown_model(tmp_path: Path) -> None:
    (err,) = errors_of(write(tmp_path, "spec: t\nrules: [\n  - a: b\n", "bad.yaml"))
    assert "bad YAML" in err.message and err.line is not None
    (err,) = errors_of(write(tmp_path, HEAD.replace("AgencyRecord", "NoSuchModel"), "m.yaml"))
    assert err.line == 2 and "unknown target model" in err.message


def test_several_errors_reported_together(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + """\
  - target: person.bogus
    source: a
  - target: person.sex
    source: b
    transforms: [nope]
""")
    errs = errors_of(path)
    assert [e.line for e in errs] == [7, 11]


def test_bad_code_table_file(tmp_path: Path) -> None:
    codes = tmp_path / "codes"
    codes.mkdir()
    (codes / "broken.yaml").write_text("codes:\n  A: {label: no value}\n", encoding="utf-8")
    path = write(tmp_path, HEAD)
    (err,) = errors_of(path, code_dirs=[codes])
    assert err.file.endswith("broken.yaml") and err.line == 2 and "needs 'value'" in err.message


def test_shipped_specs_load() -> None:
    root = default_codes_dir().parent
    for name in ("generic-json.yaml", "generic-csv.yaml"):
        mapping = load_spec(root / name)
        assert mapping.model.__name__ == "AgencyRecord"


class Pet(BaseModel):
    name: str
    tags: list[str] = []
    owner: "Owner | None" = None


class Owner(BaseModel):
    family: str


Pet.model_rebuild()


def test_engine_is_model_agnostic(tmp_path: Path) -> None:
    path = write(tmp_path, """\
spec: pets
target: Pet
language: json
rules:
  - target: name
    source: n
    transforms: [title]
    required: true
  - target: tags
    source: t
    transforms: [upper]
  - target: owner.family
    source: o.f
""")
    mapping = load_spec(path, models={"Pet": Pet}, code_dirs=[])
    pet = mapping.translate({"n": "rex", "t": ["a", "b"], "o": {"f": "X"}}, Position("p", 1))
    assert pet == Pet(name="Rex", tags=["A", "B"], owner=Owner(family="X"))
