"""Stream DfE Common Transfer File pupils, safely, with a few derived facts attached.

A CTF is ``CTfile / Header / CTFpupilData / Pupil``. The reader streams one
``Pupil`` at a time through :func:`mashlink.connectors.xml_safety.iterparse_safe`
(DOCTYPE and entities refused, size capped, memory flat), so a whole LA's
transfer file never sits in memory; the ``Header`` stays in the tree, so a
spec can read it with absolute paths (``/CTfile/Header/SourceSchool/LEA``).

Facts a spec cannot express comfortably in XPath are computed here and
attached as attributes in the reserved ``urn:mashlink:derived`` namespace
(prefix ``mx`` in ``ctf.yaml``); the spec still decides whether and where
they go:

* ``Pupil/@mx:record-key``: the record id: the UPN when it is a 13-character
  UPN, otherwise a key that never contains a name (``UN2-3f9c...``) so that
  errors and indexes can name the record safely;
* ``UPN/@mx:check``: ``passed``, ``failed``, ``temporary`` or ``unknown_code``
  (the DfE check letter, modulus 23);
* ``YearData/@mx:absence-percent`` and ``@mx:persistent-absence``: missed
  sessions (authorised + unauthorised) over sessions possible, and whether
  that is at or above the persistent-absence threshold (DfE: 10 %; reader
  option ``persistent_absence_percent``). Left out when the numbers are not
  whole numbers or nothing was possible, rather than guessed.

Reader options (``reader:`` in the spec): ``persistent_absence_percent``
(default 10), ``max_bytes`` (default 200 MiB), ``record_tag`` (default
``Pupil``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from lxml import etree

from ..xml_safety import DEFAULT_MAX_BYTES, XmlInputError, iterparse_safe
from ...mapping.errors import InputError, Position
from ...schemas.identifiers import UPN_UNKNOWN_CODES, upn_is_temporary, upn_is_valid

DERIVED_NS = "urn:mashlink:derived"
_D = "{" + DERIVED_NS + "}"
_UPN_SHAPE = re.compile(r"^[A-Z]\d{11}[0-9A-Z]$")
#: A session count: at most 9 digits (a school year has a few hundred sessions). Longer runs of digits are
#: not a count, and past 4,300 digits int() raises ValueError (found by the fuzzing suite, issue 18).
_WHOLE = re.compile(r"^\s*\d{1,9}\s*$")


class CtfReaderOptions:
    """Validated ``reader:`` options of a CTF spec (plain class: built once per file)."""

    def __init__(self, raw: dict[str, Any]) -> None:
        unknown = set(raw) - {"persistent_absence_percent", "max_bytes", "record_tag"}
        if unknown:
            raise InputError("reader options", f"unknown CTF reader option(s): {', '.join(sorted(unknown))}")
        try:
            self.threshold = Decimal(str(raw.get("persistent_absence_percent", 10)))
        except InvalidOperation:
            raise InputError("reader options", "persistent_absence_percent must be a number") from None
        if not (0 < self.threshold <= 100):
            raise InputError("reader options", "persistent_absence_percent must be above 0 and at most 100")
        self.max_bytes = int(raw.get("max_bytes", DEFAULT_MAX_BYTES))
        self.record_tag = str(raw.get("record_tag", "Pupil"))


def clean_upn(text: str | None) -> str:
    """UPN as compared: upper case, no spaces."""
    return re.sub(r"\s+", "", text or "").upper()


def upn_check(upn: str) -> str:
    """``passed`` / ``temporary`` / ``failed`` / ``unknown_code`` for a cleaned UPN."""
    if upn in UPN_UNKNOWN_CODES:
        return "unknown_code"
    if not upn_is_valid(upn):
        return "failed"
    return "temporary" if upn_is_temporary(upn) else "passed"


def _text(element: etree._Element, path: str) -> str:
    found = element.find(path)
    return "" if found is None or found.text is None else found.text.strip()


def record_key(pupil: etree._Element) -> str:
    """A stable record id that never contains a name (see module docs)."""
    upn = clean_upn(_text(pupil, "UPN"))
    if _UPN_SHAPE.match(upn):
        return upn
    parts = []
    for names in (("Surname", "LegalSurname"), ("Forename", "LegalForename"), ("DOB",)):
        value = next((v for name in names for v in (_text(pupil, name), _text(pupil, f"BasicDetails/{name}")) if v),
                     "")
        parts.append(value.lower())
    digest = hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:12]
    return f"{upn or 'NOUPN'}-{digest}"


def _whole(element: etree._Element, name: str) -> int | None:
    text = _text(element, name)
    return int(text) if _WHOLE.match(text) else None


def annotate_pupil(pupil: etree._Element, threshold: Decimal) -> None:
    """Attach the derived facts to one ``Pupil`` element (idempotent)."""
    pupil.set(_D + "record-key", record_key(pupil))
    upn = pupil.find("UPN")
    if upn is not None and upn.text and upn.text.strip():
        upn.set(_D + "check", upn_check(clean_upn(upn.text)))
    for year in pupil.iterfind("Attendance/YearData"):
        possible = _whole(year, "SessionsPossible")
        authorised = _whole(year, "SessionsAuthorised")
        unauthorised = _whole(year, "SessionsUnauthorised")
        if possible is None or possible <= 0 or authorised is None or unauthorised is None:
            continue
        missed = authorised + unauthorised
        percent = (Decimal(missed) * 100 / Decimal(possible)).quantize(Decimal("0.1"))
        # Compared exactly (no rounding): 30 of 300 is 10 % and persistent; 29 of 300 is not.
        persistent = Decimal(missed) * 100 >= threshold * possible
        year.set(_D + "absence-percent", str(percent))
        year.set(_D + "persistent-absence", "true" if persistent else "false")


def _check_one_header(block: etree._Element, previous: etree._Element | None, path: Path,
                      headers: list[etree._Element]) -> None:
    """Find the ``Header`` elements around a new pupil block; a second one is an error.

    A CTF has one ``Header``. Every pupil's spec paths read ``/CTfile/Header/...``,
    so a file that repeats the header (a concatenated or crafted file: 1 KB
    repeated as 800 ``Header`` + pupil blocks) would make each pupil scan every
    header parsed so far: quadratic work. The walk back stops at the previous
    block and the walk forward covers only what the parser has read ahead, and
    the first extra Header ends the file, so the check itself is linear.
    """
    for sibling in block.itersiblings(preceding=True):
        if sibling is previous:
            break
        if sibling.tag == "Header" and all(sibling is not h for h in headers):
            headers.append(sibling)
    for sibling in block.itersiblings():
        if sibling.tag == "Header" and all(sibling is not h for h in headers):
            headers.append(sibling)
            break
    if len(headers) > 1:
        line = sorted(h.sourceline or 0 for h in headers)[1]
        raise XmlInputError(str(path), "a Common Transfer File has one Header; this is a second one "
                                       "(a repeated or concatenated file?)", line)


def iter_pupils(path: Path, options: CtfReaderOptions) -> Iterator[tuple[etree._Element, Position]]:
    """(annotated Pupil element, position) for each pupil; raises ``XmlInputError`` for a bad file."""
    number = 0
    block: etree._Element | None = None
    headers: list[etree._Element] = []
    for _event, pupil in iterparse_safe(path, tag=options.record_tag, max_bytes=options.max_bytes):
        parent = pupil.getparent()
        if parent is None or parent.tag != "CTFpupilData":
            continue
        if parent is not block:
            _check_one_header(parent, block, path, headers)
            block = parent
        number += 1
        annotate_pupil(pupil, options.threshold)
        position = Position(str(path), number, line=pupil.sourceline,
                            path=f"/CTfile/CTFpupilData/Pupil[{number}]")
        yield pupil, position.with_record_id(pupil.get(_D + "record-key"))


def read_ctf(path: Path, mapping: Any, warn: Any = None) -> Iterator[tuple[Any, Position]]:
    """Reader for the mapping engine (``mashlink translate ctf``): one record per ``Pupil``.

    A file that is unsafe or not well-formed raises ``InputError`` naming the
    file and line; pupils before a late syntax error have already been
    yielded (and counted), so a truncated file reports how far it got.
    """
    options = CtfReaderOptions(dict(getattr(mapping.spec, "reader", {}) or {}))
    seen_root = False
    try:
        for pupil, position in iter_pupils(Path(path), options):
            if not seen_root:
                root = pupil.getroottree().getroot()
                if root.tag != "CTfile":
                    raise InputError(str(path), f"not a Common Transfer File: root element is {root.tag!r}, "
                                                "expected 'CTfile'", root.sourceline)
                seen_root = True
            yield pupil, position
    except XmlInputError as exc:
        raise InputError(exc.source, exc.reason, exc.line, exc.column) from None
