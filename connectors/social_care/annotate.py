"""Reader annotations: what a reader learns outside one record, handed to the spec.

A streaming reader sees things the mapping rules cannot: the file's header
(the LA code that scopes every LA child id), text stranded between elements,
identifiers that fail their check. It records them *inside the record* under
the ``urn:mashlink:reader`` namespace (``m:context`` and ``m:issue``
elements), and the spec maps them like any other data, so problems become
``AgencyRecord.issues`` (kept and flagged) instead of silently vanishing.
"""

from __future__ import annotations

import copy

from lxml import etree

from ...schemas.identifiers import UPN_UNKNOWN_CODES, normalise_nhs_number, nhs_number_is_valid, upn_is_valid

READER_NS = "urn:mashlink:reader"
_ISSUE = f"{{{READER_NS}}}issue"
_CONTEXT = f"{{{READER_NS}}}context"


def add_issue(record: etree._Element, field: str, rule: str, detail: str) -> None:
    """Attach one problem to the record; ``detail`` must never quote the value."""
    issue = etree.SubElement(record, _ISSUE)
    # Child elements, not attributes: the XPath layer hands out elements with children to for_each.
    for name, text in (("field", field), ("rule", rule), ("detail", detail)):
        etree.SubElement(issue, f"{{{READER_NS}}}{name}").text = text


def attach_context(record: etree._Element, header: etree._Element | None) -> None:
    """Give the record a copy of the file header (``m:context/Header``)."""
    if header is None:
        return
    context = etree.SubElement(record, _CONTEXT)
    context.append(copy.deepcopy(header))


def strip_namespaces(element: etree._Element) -> None:
    """Drop namespaces from a subtree so specs written for plain DfE files still match."""
    for el in element.iter():
        tag = el.tag
        if isinstance(tag, str) and tag[0] == "{":
            el.tag = tag.split("}", 1)[1]


def _relpath(element: etree._Element, record: etree._Element) -> str:
    parts: list[str] = []
    node: etree._Element | None = element
    while node is not None and node is not record:
        parts.append(str(node.tag))
        node = node.getparent()
    return "/".join(reversed(parts)) or str(record.tag)


def flag_stray_text(record: etree._Element) -> int:
    """Flag text stranded inside container elements (between child elements); returns how many."""
    found = 0
    for el in record.iter(etree.Element):
        if not len(el):
            continue
        stray = bool(el.text and el.text.strip())
        if not stray:
            for child in el:
                if child.tail and child.tail.strip():
                    stray = True
                    break
        if stray:
            found += 1
            add_issue(record, _relpath(el, record), "stray_text",
                      "text between child elements was ignored (not part of any field)")
    return found


def flag_upn(record: etree._Element, value: str | None, field: str = "person.identifiers[upn]") -> None:
    """Flag a UPN that fails its check letter (it is kept, but never trusted for matching)."""
    if not value or not value.strip():
        return
    upn = value.strip().upper()
    if upn in UPN_UNKNOWN_CODES:
        return
    if not upn_is_valid(upn):
        add_issue(record, field, "upn_check",
                  "UPN fails the DfE format or check letter; kept but not used for exact matching")


def flag_nhs_number(record: etree._Element, value: str | None) -> None:
    """Flag an NHS number that fails modulus 11 (kept, never trusted for matching)."""
    if not value or not value.strip():
        return
    digits = "".join(c for c in normalise_nhs_number(value) if c.isdigit())
    if not nhs_number_is_valid(digits):
        add_issue(record, "person.identifiers[nhs_number]", "nhs_number_check",
                  "NHS number is not 10 digits passing the modulus 11 check; kept but not used for exact matching")


def first_text(record: etree._Element, *paths: str) -> str | None:
    """Text of the first of ``paths`` (ElementPath) that has some."""
    for path in paths:
        el = record.find(path)
        if el is not None and el.text and el.text.strip():
            return el.text
    return None
