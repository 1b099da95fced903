"""What both health translators add to a spec's output that YAML cannot say (one copy for HL7 v2 and FHIR).

Each runs on the translated record as a plain dict, before validation:
``set_source`` stamps the deployment's agency id (and, where given, system and
organisation) on the record's source and on every finding's copy of it;
``note_untrusted_nhs_numbers`` adds a data-quality issue for an NHS number that
fails modulus 11 (the model keeps it, untrusted; the issue says why to a
reader of the record). ``compiled_spec`` loads a spec once per file version;
``validated`` and ``rejection`` turn a translated dict into the record or a
message naming fields and rules (never values, which may be personal data).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ...mapping.compiler import CompiledMapping, load_spec
from ...mapping.errors import RecordError
from ...schemas.identifiers import nhs_number_is_valid
from ...schemas.record import AgencyRecord


@lru_cache(maxsize=16)
def _compiled(path: str, mtime_ns: int) -> CompiledMapping:
    return load_spec(path)


def compiled_spec(path: Path) -> CompiledMapping:
    """The compiled spec at ``path``, loaded once per file version (an edited file is reloaded)."""
    return _compiled(str(path), Path(path).stat().st_mtime_ns)


def set_source(out: dict[str, Any], **values: str | None) -> None:
    """Set the given non-empty source fields on the record and on each finding's source."""
    wanted = {k: v for k, v in values.items() if v}
    if not wanted:
        return
    sources = [out.get("source"), *(f.get("source") for f in out.get("findings", []))]
    for src in sources:
        if isinstance(src, dict):
            src.update(wanted)


def note_untrusted_nhs_numbers(out: dict[str, Any]) -> None:
    """An issue per NHS number of the person that fails modulus 11 (kept, not trusted)."""
    person = out.get("person") or {}
    for index, identifier in enumerate(person.get("identifiers", [])):
        if identifier.get("system") == "nhs_number" and not nhs_number_is_valid(str(identifier.get("value", ""))):
            out.setdefault("issues", []).append({
                "field": f"person.identifiers[{index}]", "rule": "nhs_number.modulus11",
                "detail": "NHS number fails the modulus 11 check: kept, not trusted"})


def rejection(exc: RecordError) -> str:
    """The fields and rules of a record the spec rejected."""
    return "; ".join(f"{i.field}: {i.rule}" for i in exc.issues) or "rejected by the mapping spec"


def validated(out: dict[str, Any]) -> AgencyRecord:
    """The canonical record; raises ``ValueError`` naming each invalid field and rule."""
    try:
        return AgencyRecord.model_validate(out)
    except ValidationError as exc:
        where = "; ".join(".".join(str(p) for p in e["loc"]) + f": {e['type']}"
                          for e in exc.errors(include_url=False, include_input=False))
        raise ValueError(f"translated record is not valid ({where})") from None
