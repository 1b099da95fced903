"""Small files, large costs (issue 18): work per input grows linearly, asserted on work done, never on time.

A CTF whose ~500-byte Header is repeated 800 times, with pupils, made every
record re-read every header through the document-level paths
(``/CTfile/Header/...``): records x headers. A document parsed whole by
``read_xml`` is now registered as complete, and expressions that depend only
on the document are evaluated once per document.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mashlink.mapping import load_spec, mappings_dir
from mashlink.mapping.paths.xpath import XPathExpr, _document_constant
from mashlink.mapping.readers import read_xml
from tests.mapping.test_mapping_xml_paths import _paths

CTF = (Path(__file__).resolve().parents[1] / "education" / "fixtures" / "ctf-standard.xml").read_text(encoding="utf-8")


def _count_evaluations(path: XPathExpr, counter: dict[str, int]) -> None:
    inner = path._xpath

    def counted(*args: Any) -> Any:
        counter[path.expr] = counter.get(path.expr, 0) + 1
        return inner(*args)
    path._xpath = counted


def test_document_level_paths_are_evaluated_once_per_document(tmp_path: Path) -> None:
    header = re.search(r"<Header>.*?</Header>", CTF, re.S).group(0)
    pupil = re.search(r"<Pupil>.*?</Pupil>", CTF, re.S).group(0)
    copies = 200
    path = tmp_path / "repeated.xml"
    path.write_text(CTF.replace(header, header * copies).replace("<CTFpupilData>", "<CTFpupilData>" + pupil * copies),
                    encoding="utf-8")
    mapping = load_spec(mappings_dir() / "ctf.yaml")
    document_level = [p for p in _paths(mapping.rules) if p.document_constant]
    assert len(document_level) >= 4  # SupplierID, LEA+Estab, SchoolName, DestSchool, DateTime
    counter: dict[str, int] = {}
    for p in document_level:
        _count_evaluations(p, counter)
    records = 0
    for native, position in read_xml(path, mapping):
        records += 1
        try:
            mapping.translate(native, position)
        except Exception:  # noqa: BLE001 - the generic reader has no record keys; only the work counts here
            pass
    assert records > copies
    assert counter and max(counter.values()) == 1, counter


def test_document_constant_is_conservative() -> None:
    assert _document_constant("/CTfile/Header/SupplierID")
    assert _document_constant("concat(/CTfile/Header/SourceSchool/LEA, /CTfile/Header/SourceSchool/Estab)")
    assert _document_constant("/CTfile/Header/DestSchool[normalize-space(LEA)='MMM']")
    assert _document_constant("/a/b/@k")
    for relative in ("A", ".", "@k", "/a | b", "concat(@k, /a)", "count(/a) + position()", "string()",
                     "../Header/LEA", "child::A", "normalize-space()"):
        assert not _document_constant(relative), relative


def test_one_record_fanning_out_past_the_item_limit_is_rejected_naming_it(tmp_path: Path) -> None:
    import json

    from mashlink.mapping import default_registry, scalars
    from mashlink.mapping.errors import RecordError

    entry = default_registry().get("json")
    mapping = load_spec(entry.spec_path)
    data = json.loads((Path(__file__).parent / "data" / "cases.json").read_text(encoding="utf-8"))
    limit = scalars.MAX_ITEMS_PER_RULE
    data["cases"][0]["records"] = [{"id": f"R{i}", "type": "Referral"} for i in range(limit + 1)]
    path = tmp_path / "fan-out.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    records = list(entry.reader(path, mapping))
    try:
        mapping.translate(*records[0])
    except RecordError as exc:
        assert f"too many items: {limit + 1} items, the limit is {limit}" in str(exc)
        assert "MASHLINK_MAX_ITEMS_PER_RULE" in str(exc)
    else:
        raise AssertionError("a record over the item limit was accepted")
    mapping.translate(*records[1])


def test_xml_over_the_size_limit_is_refused_naming_it(tmp_path: Path, monkeypatch) -> None:
    import pytest

    from mashlink.mapping import readers
    from mashlink.mapping.errors import InputError

    monkeypatch.setattr(readers, "MAX_XML_BYTES", 100)
    path = tmp_path / "big.xml"
    path.write_text(CTF, encoding="utf-8")
    with pytest.raises(InputError, match="XML input too large: .* the limit is 100 .*MASHLINK_XML_MAX_BYTES"):
        list(read_xml(path, load_spec(mappings_dir() / "ctf.yaml")))
