"""``required`` inside an object rule: an issue only when the object is kept.

A required value missing inside an object that turns out to be absent is
forgotten with the object (a child with no UPN element has no UPN
identifier, not an error); a kept object missing it, or a required object
with nothing in it, rejects the record naming the field.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mashlink.mapping import Position, RecordError, load_spec

POS = Position("t.json", 1)

SPEC = (
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
    "      - {target: code, source: eth}\n"
)


def test_required_value_inside_an_absent_object_is_not_an_error(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    mapping = load_spec(spec)
    record = mapping.translate({"id": "C-1", "eth": "WBRI"}, POS)
    assert record.person.identifiers == [] and record.person.ethnicity.code == "WBRI"
    with pytest.raises(RecordError) as kept:  # object found (scope), its required value missing
        mapping.translate({"id": "C-1", "eth": "WBRI", "la": "999"}, POS)
    assert "person.identifiers[].value" in str(kept.value) and "required" in str(kept.value)
    with pytest.raises(RecordError) as empty:  # a required object with nothing in it
        mapping.translate({"id": "C-1"}, POS)
    assert "person.ethnicity" in str(empty.value)
