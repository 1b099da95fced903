"""FHIR Flag classification and the FHIR connector's mapping options.

The translation of FHIR resources into canonical records is the YAML spec
``config/mappings/fhir-r4.yaml``, run by ``fhir_mapping`` on the live
connector and in ``mashlink translate fhir``. What stays here is what a path
language cannot express: deciding whether a Flag means child protection, a
safeguarding concern, or neither (code lists per code system, marker codes
and phrases in free text, from ``config/mappings/codes/fhir-flag-class.yaml``),
and the options a deployment sets for its trust (agency id, ODS code,
hospital-number identifier systems, its own spec or flag lists).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

FLAG_CLASSES = ("child_protection", "safeguarding")


class FlagClassLists(NamedTuple):
    """The flag classification table, split by kind of evidence: class -> codes / markers / phrases."""

    codes: dict[str, dict[str, frozenset[str]]]
    markers: dict[str, frozenset[str]]
    texts: dict[str, frozenset[str]]


def flag_class_table_path() -> Path:
    """``config/mappings/codes/fhir-flag-class.yaml`` (shared with ``mashlink translate fhir``)."""
    from ...mapping.codes import default_codes_dir

    return default_codes_dir() / "fhir-flag-class.yaml"


@lru_cache(maxsize=4)
def flag_class_lists(path: Path | None = None) -> FlagClassLists:
    """Read the flag classification table (keys ``code:<system>|<code>``, ``marker:<x>``, ``text:<phrase>``)."""
    from ...mapping.codes import load_table

    table = load_table(path or flag_class_table_path())
    codes: dict[str, dict[str, set[str]]] = {c: {} for c in FLAG_CLASSES}
    markers: dict[str, set[str]] = {c: set() for c in FLAG_CLASSES}
    texts: dict[str, set[str]] = {c: set() for c in FLAG_CLASSES}
    for key, entry in table.entries.items():
        cls = str(entry.value)
        if cls not in FLAG_CLASSES:
            raise ValueError(f"{table.file}: {key!r} -> {cls!r}; a flag class is one of {', '.join(FLAG_CLASSES)}")
        kind, _, rest = key.partition(":")
        if kind == "code" and "|" in rest:
            system, _, code = rest.rpartition("|")
            codes[cls].setdefault(system, set()).add(code)
        elif kind == "marker" and rest:
            markers[cls].add(rest)
        elif kind == "text" and rest:
            texts[cls].add(rest)
        else:
            raise ValueError(f"{table.file}: key {key!r} is not code:<system>|<code>, marker:<x> or text:<phrase>")
    return FlagClassLists({c: {s: frozenset(v) for s, v in codes[c].items()} for c in FLAG_CLASSES},
                          {c: frozenset(markers[c]) for c in FLAG_CLASSES},
                          {c: frozenset(texts[c]) for c in FLAG_CLASSES})


class FhirMappingOptions(BaseModel):
    """Per-trust options of FHIR translation (connector options ``mapping:``); codes live in the spec."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agency_id: str | None = None
    system: str = "FHIR R4"
    organisation: str | None = None
    mrn_systems: dict[str, str] = Field(
        default_factory=dict, description="Identifier system URI -> organisation code, for hospital numbers"
    )
    # Flag classification: defaults from config/mappings/codes/fhir-flag-class.yaml, the table
    # `mashlink translate fhir` uses too, so the live connector and a translated file agree.
    safeguarding_markers: frozenset[str] = Field(default_factory=lambda: flag_class_lists().markers["safeguarding"])
    child_protection_markers: frozenset[str] = Field(
        default_factory=lambda: flag_class_lists().markers["child_protection"])
    child_protection_codes: dict[str, frozenset[str]] = Field(
        default_factory=lambda: dict(flag_class_lists().codes["child_protection"]),
        description="Flag code system URI -> codes meaning child protection (CP plan, CP-IS); '*' = any system. "
        "For local or supplier code systems, e.g. {'https://trust.example.nhs.uk/CodeSystem/alerts': ['CP']}",
    )
    safeguarding_codes: dict[str, frozenset[str]] = Field(
        default_factory=lambda: dict(flag_class_lists().codes["safeguarding"]),
        description="Flag code system URI -> codes meaning a safeguarding concern; '*' = any")
    child_protection_texts: frozenset[str] = Field(
        default_factory=lambda: flag_class_lists().texts["child_protection"],
        description="Phrases in a Flag's code.text / display / category meaning child protection (any case)",
    )
    safeguarding_texts: frozenset[str] = Field(
        default_factory=lambda: flag_class_lists().texts["safeguarding"],
        description="Phrases in a Flag's code.text / display / category meaning a safeguarding concern",
    )
    spec: Path | None = Field(default=None, description="The FHIR mapping spec (default config/mappings/fhir-r4.yaml): "
                              "a trust's own copy with its codes, extensions and paths")


def options_from_flag_table(path: Path) -> FhirMappingOptions:
    """Default options with the flag classification read from another table (a trust's own code lists)."""
    lists = flag_class_lists(path)
    return FhirMappingOptions(
        child_protection_codes=lists.codes["child_protection"], safeguarding_codes=lists.codes["safeguarding"],
        child_protection_markers=lists.markers["child_protection"], safeguarding_markers=lists.markers["safeguarding"],
        child_protection_texts=lists.texts["child_protection"], safeguarding_texts=lists.texts["safeguarding"])


@lru_cache(maxsize=1)
def default_mapping_options() -> FhirMappingOptions:
    """The defaults, built once (a frozen model: safe to share)."""
    return FhirMappingOptions()


def _codes(concepts: Iterable[dict[str, Any]] | dict[str, Any] | None) -> list[str]:
    """Every code and the text/display of CodeableConcepts or Codings, for marker matching."""
    if concepts is None:
        return []
    if isinstance(concepts, dict):
        concepts = [concepts]
    out: list[str] = []
    for cc in concepts:
        if not isinstance(cc, dict):
            continue
        if cc.get("code"):
            out.append(str(cc["code"]))
        if cc.get("display"):
            out.append(str(cc["display"]))
        if cc.get("text"):
            out.append(str(cc["text"]))
        for coding in cc.get("coding", []) or []:
            for key in ("code", "display"):
                if coding.get(key):
                    out.append(str(coding[key]))
    return out


@lru_cache(maxsize=64)
def _lowered(markers: frozenset[str]) -> tuple[frozenset[str], tuple[str, ...]]:
    """Markers lower-cased, and the multi-word ones (matched as substrings of free text)."""
    lowered = frozenset(m.lower() for m in markers)
    return lowered, tuple(m for m in lowered if " " in m)


def _matches(values: list[str], markers: frozenset[str]) -> bool:
    exact, phrases = _lowered(markers)
    for v in values:
        low = v.lower()
        if low in exact or any(p in low for p in phrases):
            return True
    return False


def _ref_id(reference: dict[str, Any] | None) -> str | None:
    if not reference or not isinstance(reference.get("reference"), str):
        return None
    ref = reference["reference"]
    return ref.split("/_history/")[0].rsplit("/", 1)[-1] if "/" in ref else ref


def _flag_codings(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """(system, code) of every coding in a Flag's code and category."""
    concepts = [resource.get("code") or {}, *(resource.get("category") or [])]
    return [(str(c.get("system") or ""), str(c["code"]))
            for cc in concepts if isinstance(cc, dict)
            for c in cc.get("coding", []) or [] if isinstance(c, dict) and c.get("code")]


def _flag_texts(resource: dict[str, Any]) -> list[str]:
    """code.text, category text and every display, lower-cased with '-' / '_' / runs of spaces as one space."""
    concepts = [resource.get("code") or {}, *(resource.get("category") or [])]
    texts: list[str] = []
    for cc in concepts:
        if not isinstance(cc, dict):
            continue
        raw = [cc.get("text")] + [c.get("display") for c in cc.get("coding", []) or [] if isinstance(c, dict)]
        texts += [" ".join(str(t).lower().replace("-", " ").replace("_", " ").split()) for t in raw if t]
    return texts


def _code_listed(codings: list[tuple[str, str]], lists: dict[str, frozenset[str]]) -> bool:
    return any(code in lists.get(system, ()) or code in lists.get("*", ()) for system, code in codings)


def _text_listed(texts: list[str], phrases: frozenset[str]) -> bool:
    wanted = [" ".join(p.lower().replace("-", " ").replace("_", " ").split()) for p in phrases]
    return any(p and p in t for t in texts for p in wanted)


def classify_flag(resource: dict[str, Any], options: FhirMappingOptions | None = None) -> tuple[str, str | None]:
    """(class, matched_by) of a FHIR Flag: ``child_protection``, ``safeguarding`` or ``unclassified``.

    Child protection wins over safeguarding. Evidence, in order: the configured
    code lists (``child_protection_codes`` / ``safeguarding_codes``, per code
    system, so local and supplier code systems work as well as SNOMED CT), the
    marker codes (``child_protection_markers`` / ``safeguarding_markers``, any
    system, also on meta.tag), then the text: ``code.text``, displays and
    category text containing a configured phrase (``child_protection_texts`` /
    ``safeguarding_texts``). A Flag none of these recognise is ``unclassified``:
    it is still carried as a finding, marked for review, never dropped.
    """
    opts = options or default_mapping_options()
    codings = _flag_codings(resource)
    markers = (_codes(resource.get("category")) + _codes((resource.get("meta") or {}).get("tag"))
               + _codes(resource.get("code")))
    texts = _flag_texts(resource)
    if _code_listed(codings, opts.child_protection_codes):
        return "child_protection", "code"
    if _matches(markers, opts.child_protection_markers):
        return "child_protection", "marker"
    if _text_listed(texts, opts.child_protection_texts):
        return "child_protection", "text"
    if _code_listed(codings, opts.safeguarding_codes):
        return "safeguarding", "code"
    if _matches(markers, opts.safeguarding_markers):
        return "safeguarding", "marker"
    if _text_listed(texts, opts.safeguarding_texts):
        return "safeguarding", "text"
    return "unclassified", None


def subject_reference(resource: dict[str, Any]) -> str | None:
    """The Patient id a clinical resource is about (subject / patient / for)."""
    for key in ("subject", "patient", "for"):
        value = resource.get(key)
        if isinstance(value, dict):
            ref = value.get("reference", "")
            if isinstance(ref, str) and (ref.startswith("Patient/") or "/Patient/" in ref):
                return _ref_id(value)
    return None
