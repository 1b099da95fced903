"""HL7 v2 messages -> canonical ``AgencyRecord`` through the YAML spec, live and in ``translate``.

``config/mappings/hl7v2-adt.yaml`` is the one place a trust adapts HL7 v2
codes and paths (issue 17): the ADT listener, the RRI^I12 referral answers and
``mashlink translate hl7v2`` all run it, compiled once by ``mapping/``. A
deployment may point ``spec`` at its own copy.

What YAML cannot say stays here, small and named:

* ``prepare`` (both paths): an empty PV1-19 becomes MSH-10 or a stable hash of
  the message, so an attendance without a visit number keeps a stable finding
  id; a PV1 that describes no visit event (A28/A31/A40, or an A03/A08 with
  neither PV1-19 nor PV1-44, which cannot say which visit) is set aside; each
  NK1's set id (NK1-1) becomes its position, so next-of-kin ids (``nk1-1``,
  ``nk1-2`` ...) are unique and present whatever the sender put there.
* ``LiveOptions`` (live only, from connector options): the agency id, the
  system name when MSH-3 is empty, and the trust's emergency locations (an
  inpatient-class visit at one of them is an ED attendance); and two
  data-quality notes that compare values across fields: an NHS number failing
  modulus 11 (kept, untrusted) and whether next of kin share the patient's
  home (``same_household``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...mapping.paths.hl7_er7 import EMPTY_PATH_FIELD, FastMessage, Hl7ParseError
from .spec_notes import compiled_spec, note_untrusted_nhs_numbers, rejection, set_source, validated
from ...mapping.errors import Position, RecordError
from ...mapping.formats import mappings_dir
from ...mapping.paths.hl7 import Hl7Message
from ...schemas.record import AgencyRecord

#: Locations (PV1-3.1) that mean emergency or urgent care, whatever the patient class.
DEFAULT_ED_LOCATIONS = frozenset({"ED", "AE", "A&E", "EMERGENCY", "UTC", "UCC", "MIU", "WIC"})
#: Triggers whose PV1 describes a visit event (A03/A08 only when they say which visit).
VISIT_TRIGGERS = frozenset({"A01", "A04"})
VISIT_UPDATE_TRIGGERS = frozenset({"A03", "A08"})
ED_CATEGORY = "health.ed_attendance"
ED_SUMMARY = "Emergency department attendance"


def default_spec_path() -> Path:
    return mappings_dir() / "hl7v2-adt.yaml"


@dataclass(frozen=True)
class LiveOptions:
    """Per-deployment settings for HL7 v2 translation (from the agency's connector options)."""

    agency_id: str | None = None
    system: str = "HL7 v2 ADT"
    ed_locations: frozenset[str] = field(default_factory=lambda: DEFAULT_ED_LOCATIONS)
    spec: Path | None = None  # None: the shipped config/mappings/hl7v2-adt.yaml


def _visit_says_which(msg: FastMessage, occurrence: int) -> bool:
    return bool(msg.value("PV1", 19, occurrence=occurrence) or msg.value("PV1", 44, occurrence=occurrence))


def prepare(msg: FastMessage) -> Hl7Message:
    """The message as the spec reads it (both paths): non-visit PV1s set aside, visit numbers filled."""
    native = msg.to_path_message()
    trigger = (msg.trigger or msg.value("EVN", 1)).upper()
    kept = []
    occurrence = -1
    for segment in native.segments:
        if segment.name == "PV1":
            occurrence += 1
            if trigger not in VISIT_TRIGGERS and not (trigger in VISIT_UPDATE_TRIGGERS
                                                      and _visit_says_which(msg, occurrence)):
                continue  # no visit event: not a finding (and not an issue either)
        kept.append(segment)
    native.segments = kept
    number_next_of_kin(native)
    return fill_visit_numbers(msg, native)


def number_next_of_kin(native: Hl7Message) -> Hl7Message:
    """Set each NK1's set id (NK1-1) to its 1-based position among the message's NK1 segments.

    The spec's next-of-kin id is ``nk1-<NK1-1>``. Senders often leave NK1-1
    empty or send "1" on every NK1; read as sent, the record would lose its
    person id or repeat it, and the whole message (an ED attendance with it)
    would be refused. Numbering by position is what the feed always did.
    """
    position = 0
    for segment in native.segments:
        if segment.name != "NK1":
            continue
        position += 1
        fields = segment.fields
        if len(fields) < 2:
            fields.append(EMPTY_PATH_FIELD)
        fields[1] = [[[str(position)]]]
    return native


def fill_visit_numbers(msg: FastMessage, native: Hl7Message) -> Hl7Message:
    """An empty PV1-19 (visit number, optional in v2.4) becomes MSH-10, or a stable hash of the message.

    The spec's finding id is ``visit-<PV1-19>``; without this an ED attendance
    with no visit number would be rejected and lost. Same message, same id.
    """
    derived: str | None = None
    for segment in native.segments:
        if segment.name != "PV1":
            continue
        fields = segment.fields
        if len(fields) > 19 and fields[19] and fields[19][0] and fields[19][0][0] and fields[19][0][0][0]:
            continue  # PV1-19.1 is there
        if derived is None:
            derived = msg.control_id or "evt-" + hashlib.sha256(msg.to_er7().encode("utf-8")).hexdigest()[:20]
        if len(fields) <= 19:
            fields.extend([EMPTY_PATH_FIELD] * (20 - len(fields)))
        fields[19] = [[[derived]]]
    return native


def _same_home(a: dict[str, Any], b: dict[str, Any]) -> bool | None:
    pa, pb = a.get("postcode"), b.get("postcode")
    if not pa or not pb:
        return None
    return (pa.replace(" ", "").upper() == pb.replace(" ", "").upper()
            and (a.get("lines") or [])[:1] == (b.get("lines") or [])[:1])


def apply_live_options(out: dict[str, Any], msg: FastMessage, options: LiveOptions) -> dict[str, Any]:
    """Add what the spec cannot say to the translated record (a plain dict, before validation)."""
    set_source(out, agency_id=options.agency_id, system=None if msg.value("MSH", 3) else options.system)
    for finding in out.get("findings", []):
        location = str((finding.get("attributes") or {}).get("location") or "").upper()
        if location in options.ed_locations and finding.get("category") != ED_CATEGORY:
            finding["category"] = ED_CATEGORY
            finding["summary"] = ED_SUMMARY
    note_untrusted_nhs_numbers(out)
    person = out.get("person") or {}
    home = (person.get("addresses") or [None])[0]
    related = {p.get("person_id"): p for p in out.get("related_people", [])}
    for rel in out.get("relationships", []):
        other = related.get(rel.get("from_person_id"))
        nk_home = ((other or {}).get("addresses") or [None])[0]
        if home and nk_home:
            rel["same_household"] = _same_home(home, nk_home)
    return out


def _rejected(exc: RecordError) -> Hl7ParseError:
    """A NAK-able error naming fields and rules (never values) of a message the spec rejects."""
    first = exc.issues[0] if exc.issues else None
    text = rejection(exc)
    segment = None
    if first is not None and first.source:
        segment = first.source.lstrip("^")[:3] if first.source.lstrip("^")[:3].isalnum() else None
    return Hl7ParseError(f"message rejected by the HL7 v2 mapping spec ({text})", code=101, segment=segment)


class Hl7Translator:
    """Translates parsed messages with the compiled spec plus ``LiveOptions``."""

    def __init__(self, options: LiveOptions | None = None) -> None:
        self.options = options or LiveOptions()
        self.mapping = compiled_spec(self.options.spec or default_spec_path())

    def translate(self, message: FastMessage | str | bytes) -> AgencyRecord:
        """Parse (if needed), prepare, run the spec, add live options, validate; raises ``Hl7ParseError``."""
        msg = message if isinstance(message, FastMessage) else FastMessage.parse(message)
        try:
            out = self.mapping.translate_dict(prepare(msg), Position("hl7v2", 1))
        except RecordError as exc:
            raise _rejected(exc) from None
        apply_live_options(out, msg, self.options)
        try:
            return validated(out)
        except ValueError as exc:
            raise Hl7ParseError(str(exc), code=102) from None


def to_agency_record(message: FastMessage | str | bytes, options: LiveOptions | None = None) -> AgencyRecord:
    """The inbound path in one call (the shipped spec unless ``options.spec`` names another)."""
    return Hl7Translator(options).translate(message)
