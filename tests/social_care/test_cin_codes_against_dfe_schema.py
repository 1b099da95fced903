"""The CIN code tables agree with the DfE Children in Need census XML schema (2023/24).

The published schema is kept outside the project (``../shared/reference``, read
here, never copied in). Each code list the schema enumerates must be in our
table with the same meaning; our tables may hold more (later collections'
codes, e.g. the 2024/25 ``Sex`` codes M/F/U).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from lxml import etree

from mashlink.mapping.codes import default_codes_dir, load_tables
from mashlink.mapping.formats import mappings_dir

ROOT = Path(__file__).resolve().parents[2]
CANDIDATES = [ROOT.parent / "shared" / "reference" / "CIN_schema_2024.xsd",
              Path("/work/shared/reference/CIN_schema_2024.xsd")]
XS = "{http://www.w3.org/2001/XMLSchema}"


@pytest.fixture(scope="module")
def dfe() -> dict[str, dict[str, str]]:
    path = next((p for p in CANDIDATES if p.is_file()), None)
    if path is None:
        pytest.skip("the DfE CIN schema is not in ../shared/reference on this machine")
    tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
    lists: dict[str, dict[str, str]] = {}
    for simple in tree.iter(f"{XS}simpleType"):
        codes = {}
        for enum in simple.iter(f"{XS}enumeration"):
            doc = enum.findtext(f"{XS}annotation/{XS}documentation") or ""
            codes[enum.get("value")] = " ".join(doc.split())
        if codes and simple.get("name"):
            lists[simple.get("name")] = codes
    return lists


@pytest.fixture(scope="module")
def ours() -> dict[str, dict[str, str]]:
    tables = load_tables([default_codes_dir()])
    out = {name: {code: entry.label or "" for code, entry in table.entries.items()} for name, table in tables.items()}
    inline = yaml.safe_load((mappings_dir() / "cin.yaml").read_text(encoding="utf-8"))["code_tables"]
    out.update({name: {str(c): e["label"] for c, e in codes.items()} for name, codes in inline.items()})
    return out


@pytest.mark.parametrize(("dfe_list", "table"), [
    ("assessmentfactorstype", "cin-assessment-factors"),
    ("referralsourcetype", "cin-referral-source"),
    ("primaryneedcodetype", "cin-primary-need"),
    ("categoryofabuse", "cin-category-of-abuse"),
    ("reasonforclosuretype", "cin-reason-for-closure"),
    ("gendertype", "sex-cin"),
])
def test_every_dfe_code_is_in_our_table(dfe: dict, ours: dict, dfe_list: str, table: str) -> None:
    missing = sorted(set(dfe[dfe_list]) - set(ours[table]))
    assert missing == [], f"{table} lacks DfE codes {missing}"


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 3}


@pytest.mark.parametrize("code", ["18B", "18C", "19B", "19C", "24A", "11A", "13A", "16A", "21"])
def test_factor_labels_mean_what_dfe_says(dfe: dict, ours: dict, code: str) -> None:
    """The codes most easily confused: who abused whom, and which exploitation."""
    theirs = dfe["assessmentfactorstype"][code].lower()
    label = ours["cin-assessment-factors"][code].lower()
    for phrase in ("child on child", "adult on child", "criminal exploitation", "sexual exploitation", "gangs",
                   "neglect", "no factors"):
        if phrase in theirs.split(":")[0] or (phrase in theirs and phrase in ("child on child", "adult on child")):
            assert phrase in label, f"{code}: DfE says {theirs!r}, our label is {label!r}"


def test_gender_codes_map_as_dfe_defines_them(ours: dict, dfe: dict) -> None:
    tables = load_tables([default_codes_dir()])
    assert "unborn" in dfe["gendertype"]["0"].lower()
    assert tables["sex-cin"].lookup("0").value == "not_recorded"
    assert "indeterminate" in dfe["gendertype"]["9"].lower()
    assert tables["sex-cin"].lookup("9").value == "other"


def test_synthetic_census_validates_against_the_dfe_schema_and_translates(tmp_path: Path, dfe: dict) -> None:
    """Our element names and shapes are DfE's: a schema-valid census (no local extensions) translates in full."""
    from mashlink.connectors.social_care.cin import CinReader
    from mashlink.connectors.social_care.synthetic import write_cin_file
    from mashlink.mapping import load_spec

    schema_path = next(p for p in CANDIDATES if p.is_file())
    schema = etree.XMLSchema(etree.parse(str(schema_path)))
    census = tmp_path / "cin.xml"
    written = write_cin_file(census, children=40, extensions=False)
    assert schema.validate(etree.parse(str(census))), [e.message for e in list(schema.error_log)[:5]]
    spec = load_spec(mappings_dir() / "cin.yaml")
    records = [spec.translate(native, position) for native, position in CinReader()(census, spec, None)]
    assert len(records) == written
    assert all(r.findings and r.person.identifiers for r in records)
