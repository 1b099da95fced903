"""CTF layouts as school MIS export them (issue 18): legal names, flat addresses, extended ethnicity,
and a file that repeats its Header (small file, large cost)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mashlink.connectors.education import ctf_reader
from mashlink.connectors.education.ctf_reader import CtfReaderOptions, iter_pupils
from mashlink.connectors.xml_safety import XmlInputError
from mashlink.mapping.formats import mappings_dir
from mashlink.ops.cli import app

FIXTURES = Path(__file__).parent / "fixtures"
LEGAL_FLAT = FIXTURES / "ctf-legal-flat.xml"
runner = CliRunner()


def translate(*files: Path) -> tuple[int, list[dict], str]:
    result = runner.invoke(app, ["translate", "ctf", *map(str, files)])
    records = json.loads(result.stdout) if result.stdout.strip() else []
    return result.exit_code, records, result.stderr


@pytest.fixture(scope="module")
def legal_flat() -> dict[str, dict]:
    code, out, err = translate(LEGAL_FLAT)
    assert code == 0, err
    assert "3 record(s) accepted, 0 rejected" in err
    return {r["source"]["record_id"]: r for r in out}


def test_legal_names_and_flat_address_under_pupil(legal_flat: dict[str, dict]) -> None:
    zara = legal_flat["W999400124001"]["person"]
    assert zara["names"][0] == {"use": "official", "given": ["Zara", "Noor"], "family": "Ashdown",
                                "prefix": None, "text": None}
    assert {"use": "preferred", "given": ["Zee"], "family": None, "prefix": None, "text": None} in zara["names"]
    home = zara["addresses"][0]
    assert (home["lines"], home["town"], home["postcode"]) == (["7 Larkspur Row", "Westfold"], "Synthbridge",
                                                               "ZY4 2AB")
    assert legal_flat["W999400124001"]["source"]["system"] == "FieldMIS"


def test_legal_names_inside_basic_details(legal_flat: dict[str, dict]) -> None:
    idris = legal_flat["K999400124002"]["person"]
    assert idris["names"][0]["given"] == ["Idris"] and idris["names"][0]["family"] == "Brennock"
    assert idris["addresses"][0]["lines"] == ["Plot 4, Ferrybank Site", "Ferrybank Lane"]
    assert idris["addresses"][0]["postcode"] == "ZY9 1QQ"
    assert idris["sex"] == "male" and idris["birth_date"]["value"] == "2013-11-20"


def test_extended_ethnicity_codes_are_labelled(legal_flat: dict[str, dict]) -> None:
    assert legal_flat["W999400124001"]["person"]["ethnicity"] == {
        "code_set": "dfe", "code": "AMPK", "display": "Mirpuri Pakistani"}
    assert legal_flat["K999400124002"]["person"]["ethnicity"]["display"] == "Gypsy"
    assert legal_flat["W999400124001"]["issues"] == [] and legal_flat["K999400124002"]["issues"] == []


def test_a_code_outside_the_dfe_list_is_kept_and_flagged_not_guessed(legal_flat: dict[str, dict]) -> None:
    # 'PAKI' is not a DfE code (main or extended: the Pakistani codes are APKN, AMPK, AKPA, AOPK).
    tobi = legal_flat["Z999400124003"]
    assert tobi["person"]["names"][0]["family"] == "Okafor-Hale"
    assert tobi["person"]["ethnicity"] == {"code_set": "dfe", "code": "PAKI", "display": None}
    assert {"field": "person.ethnicity.display", "rule": "code table ethnicity-dfe",
            "detail": "unknown code 'PAKI'"} in tobi["issues"]


def test_ethnicity_table_holds_the_full_dfe_extended_list() -> None:
    codes = yaml.safe_load((mappings_dir() / "codes" / "ethnicity-dfe.yaml").read_text())["codes"]
    main = {"WBRI", "WIRI", "WIRT", "WOTH", "WROM", "MWBC", "MWBA", "MWAS", "MOTH", "AIND", "APKN", "ABAN",
            "AOTH", "BCRB", "BAFR", "BOTH", "CHNE", "OOTH", "REFU", "NOBT"}
    extended = {"WCOR", "WENG", "WSCO", "WWEL", "WOWB", "WALB", "WBOS", "WCRO", "WGRE", "WGRK", "WGRC", "WITA",
                "WKOS", "WPOR", "WSER", "WTUR", "WTUK", "WTUC", "WEUR", "WEEU", "WWEU", "WOTW", "WROG", "WROR",
                "WROO", "MWAP", "MWAI", "MWAO", "MAOE", "MABL", "MACH", "MBOE", "MBCH", "MCOE", "MWOE", "MWCH",
                "MOTM", "AMPK", "AKPA", "AOPK", "AAFR", "AKAO", "ANEP", "ASNL", "ASLT", "ASRO", "AOTA", "BANN",
                "BCON", "BGHA", "BNGN", "BSLN", "BSOM", "BSUD", "BAOF", "BEUR", "BNAM", "BOTB", "CHKC", "CMAL",
                "CSNG", "CTWN", "COCH", "OAFG", "OARA", "OEGY", "OFIL", "OIRN", "OIRQ", "OJPN", "OKOR", "OKRD",
                "OLAM", "OLEB", "OLIB", "OMAL", "OMRC", "OPOL", "OTHA", "OVIE", "OYEM", "OOEG"}
    assert set(codes) == main | extended
    assert all(entry["value"] == code and entry["label"] for code, entry in codes.items())


def test_record_key_without_upn_uses_legal_names(tmp_path: Path) -> None:
    # Two pupils without a UPN and with different legal names must not share a record key.
    body = "".join(f"<Pupil><UPN>UN2</UPN><LegalSurname>{s}</LegalSurname><LegalForename>Kit</LegalForename>"
                   f"<DOB>2014-01-01</DOB></Pupil>" for s in ("Amberley", "Brookes"))
    path = tmp_path / "nupn.xml"
    path.write_text(f'<?xml version="1.0"?><CTfile><Header/><CTFpupilData>{body}</CTFpupilData></CTfile>')
    keys = [p.get(ctf_reader._D + "record-key") for p, _pos in iter_pupils(path, CtfReaderOptions({}))]
    assert len(set(keys)) == 2 and all(k.startswith("UN2-") for k in keys)
    assert not any("amberley" in k.lower() or "brookes" in k.lower() for k in keys)


def _repeated_header_file(tmp_path: Path, blocks: int) -> Path:
    text = LEGAL_FLAT.read_text()
    block = text[text.index("<Header>"):text.index("</Pupil>") + len("</Pupil>")] + "</CTFpupilData>"
    path = tmp_path / "repeated.xml"
    path.write_text('<?xml version="1.0"?>\n<CTfile>' + block * blocks + "</CTfile>")
    return path


def test_repeated_headers_are_refused_after_bounded_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """~1 KB of CTF repeated as 800 Header blocks: every pupil would read every Header kept so far.

    Work is counted, not timed: the reader stops at the second Header it sees (the parser reads
    ahead, so that is before the first pupil), having annotated no pupil.
    """
    path = _repeated_header_file(tmp_path, 800)
    assert path.stat().st_size < 1100 * 800
    annotated = []
    real = ctf_reader.annotate_pupil
    monkeypatch.setattr(ctf_reader, "annotate_pupil", lambda p, t: (annotated.append(1), real(p, t)))
    seen_headers = []
    with pytest.raises(XmlInputError) as caught:
        for pupil, _pos in iter_pupils(path, CtfReaderOptions({})):
            seen_headers.append(len(pupil.getroottree().getroot().findall("Header")))
    assert seen_headers == [] and annotated == []
    second_header_line = path.read_text().split("<Header>")[:2]
    assert "one Header" in caught.value.reason
    assert caught.value.line == "".join(second_header_line).count("\n") + 1


def test_repeated_headers_via_cli_exit_1_naming_the_line(tmp_path: Path) -> None:
    path = _repeated_header_file(tmp_path, 800)
    code, records, err = translate(path)
    line = "".join(path.read_text().split("<Header>")[:2]).count("\n") + 1
    assert code == 1
    assert f"line {line}" in err and "one Header" in err and "Traceback" not in err
    assert records == []
