"""Stream a DfE Children in Need census file, one ``<Child>`` at a time.

A CIN census return can be hundreds of megabytes (an LA's whole year, every
referral, assessment and plan). The reader uses ``iterparse_safe`` (hardened
parser, no DTDs or entities, byte cap), hands each ``Child`` to the mapping
with the file header attached, and lets the parser clear it before the next
one, so memory stays flat whatever the file size.

Tolerance: namespaced files are read as if plain; ``GenderCurrent`` and the
later ``Sex`` both work (in the spec); elements the 2023/24 schema does not
know are ignored. Problems are flagged on the record (``m:issue``): text
stranded between elements, UPNs or NHS numbers failing their checks, a
header without an LA code. A file with no ``Child`` at all is a file error
that says what a CIN file holds and what this one held (never a silent
"0 accepted, 0 rejected").
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lxml import etree

from .annotate import (
    add_issue,
    attach_context,
    first_text,
    flag_nhs_number,
    flag_stray_text,
    flag_upn,
    strip_namespaces,
)
from ..xml_safety import XmlInputError, iterparse_safe
from ...mapping.errors import InputError, Position

#: Largest CIN file streamed by default (the 1 GB requirement with headroom); override per reader.
DEFAULT_STREAM_MAX_BYTES = 4 * 1024**3


def localname(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def la_header(la_code: str) -> etree._Element:
    """A minimal ``Header`` naming an LA, for extracts that lack one (e.g. SSDA903 CSV sets)."""
    header = etree.Element("Header")
    source = etree.SubElement(header, "Source")
    etree.SubElement(source, "LEA").text = la_code
    return header


def nothing_found(path: Path, max_bytes: int | None, name: str, expected: str) -> str:
    """What a file that yielded no record holds at its top, as "expected X; found Y"."""
    root: str | None = None
    seen: list[str] = []
    events = iterparse_safe(path, tag="{*}*", events=("start",), max_bytes=max_bytes, source=name)
    try:
        for count, (_event, element) in enumerate(events):
            if root is None:
                root = localname(element.tag)
            else:
                parent = element.getparent()
                tag = localname(element.tag)
                if parent is not None and parent.getparent() is None and tag not in seen:
                    seen.append(tag)
            if len(seen) >= 6 or count > 10_000:
                break
    except XmlInputError:
        pass
    finally:
        events.close()
    if root is None:
        found = "no elements at all"
    elif seen:
        found = f"root element <{root}> containing " + ", ".join(f"<{t}>" for t in seen)
    else:
        found = f"root element <{root}> with nothing in it"
    return f"no child records: expected {expected}; found {found}"


class CinReader:
    """``Reader`` for the ``cin`` format (``mapping.readers.Reader`` protocol).

    ``la_code`` is used when the file header has no ``LEA`` (and the record
    is flagged); ``max_bytes`` caps the input size.
    """

    def __init__(self, *, la_code: str | None = None, max_bytes: int | None = DEFAULT_STREAM_MAX_BYTES) -> None:
        self.la_code = la_code
        self.max_bytes = max_bytes

    def __call__(self, path: Path, mapping: Any = None, warn: Any = None) -> Iterator[tuple[Any, Position]]:
        header: etree._Element | None = None
        header_checked = False
        number = 0
        name = str(path)
        try:
            for _event, element in iterparse_safe(path, tag=("{*}Header", "{*}Child"),
                                                  max_bytes=self.max_bytes, source=name):
                if localname(element.tag) == "Header":
                    strip_namespaces(element)
                    header = copy.deepcopy(element)
                    continue
                if not header_checked:
                    header_checked = True
                    lea = header.findtext("Source/LEA") if header is not None else None
                    if (lea is None or not lea.strip()) and self.la_code:
                        header = la_header(self.la_code)
                number += 1
                strip_namespaces(element)
                yield self.prepare(element, header), Position(name, number, line=element.sourceline,
                                                              path=f"Children/Child[{number}]")
        except XmlInputError as exc:
            raise InputError(name, exc.reason, exc.line, exc.column) from None
        if number == 0:
            # Never a silent "0 accepted, 0 rejected": say what a CIN file holds and what this one held.
            raise InputError(name, nothing_found(Path(path), self.max_bytes, name,
                                                  "a CIN census file with Message/Children/Child elements"))

    @staticmethod
    def prepare(child: etree._Element, header: etree._Element | None) -> etree._Element:
        """Annotate one ``Child`` in place (context, stray text, identifier checks)."""
        flag_stray_text(child)
        lea = header.findtext("Source/LEA") if header is not None else None
        if lea is None or not lea.strip():
            add_issue(child, "source.organisation", "la_code_missing",
                      "the file header has no LEA code: the LA child id cannot be scoped to its LA")
        flag_upn(child, first_text(child, "ChildIdentifiers/UPN"))
        flag_nhs_number(child, first_text(child, "ChildIdentifiers/NHSNumber", "ChildIdentifiers/NHSnumber"))
        attach_context(child, header)
        return child

