"""XPath 1.0 via lxml, compiled once per expression with the spec's namespaces.

Elements yield their text, attributes and string results yield themselves,
so ``Child/ChildIdentifiers/UPN`` and ``@id`` both give strings. ``for_each``
gets the elements themselves, and sub-rule paths are relative to them.

lxml evaluates every expression. An own Python evaluator for a subset of
XPath 1.0 (about 700 lines, with a per-record child index) used to run
beside it; measured with ``mashlink bench xml`` in one run (best of 3,
1,500 children/pupils, two shared cores) it made the whole translation only
1.08x faster for CIN and 1.04x for CTF with the generated translator, and
0.74x (slower) for CTF through the rule interpreter, so it was removed
(issue 17: a fast path below 1.5x goes). A per-record child index answering
the simple paths (child steps, ``[n]``, ``text()``, ``@attr``) from dicts was
tried next: 87 of the 111 calls per CIN child were in that subset, but with
the paths taken in turns (CPU time, best of 5, 1,500 records) it made the
whole translation 1.03x faster for CIN and 1.00x for CTF. Even free, those
calls are about 100 of 350 us per CIN child (at most 1.4x), so it went too.

What stays is not a fast path but a bound on work: a document parsed whole
(``complete_document``) evaluates each document-level expression
(``/CTfile/Header/...``) once, not once per record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lxml import etree

from ..errors import PathSyntaxError

_Element = etree._Element


def _value(item: Any) -> Any:
    if isinstance(item, _Element):
        if len(item):
            return _element_value(item)
        return item.text
    if isinstance(item, bool):
        return item
    if isinstance(item, float):
        return int(item) if item.is_integer() else item
    return str(item)


def _element_value(item: _Element) -> Any:
    """An element with children is structure (for for_each / nested paths) unless every
    child is a comment or PI: in a messy extract (<SchoolName>Example <!-- x --> School</SchoolName>)
    the value is then the element's text without them."""
    for child in item:
        if isinstance(child.tag, str):
            return item
    return "".join([item.text or "", *(child.tail or "" for child in item)])


# --- tokens (for ``_document_constant``) ----------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r\n]+)
  | (?P<str>"[^"]*"|'[^']*')
  | (?P<num>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)
  | (?P<op>//|::|\.\.|!=|<=|>=|[()\[\],/|+\-*=<>@.$])
  | (?P<name>[A-Za-z_][\w.\-]*(?::(?:[A-Za-z_][\w.\-]*|\*))?)
""", re.VERBOSE)

_OPERATOR_NAMES = {"and", "or", "div", "mod"}


def _tokens(expr: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None:
            raise ValueError(f"character {expr[pos]!r}")
        pos = m.end()
        kind = m.lastgroup
        text = m.group()
        if kind == "ws":
            continue
        # XPath 1.0 section 3.7: after a token that can end an operand, '*' is
        # multiplication and a name is an operator name.
        operand_before = bool(out) and (out[-1][0] in ("name", "str", "num")
                                        or out[-1][0] == "op" and out[-1][1] in (")", "]", ".", "..", "*"))
        if kind == "op" and text == "*" and operand_before:
            kind = "opname"
        elif kind == "name" and operand_before:
            if text not in _OPERATOR_NAMES:
                raise ValueError(f"name {text!r} after an operand")
            kind = "opname"
        out.append((kind, text))
    return out


class XPathExpr:
    """One compiled expression: ``all`` gives every non-empty value, ``first`` the first one."""

    __slots__ = ("expr", "_xpath", "document_constant")

    def __init__(self, expr: str, xpath: etree.XPath):
        self.expr = expr
        self._xpath = xpath
        #: depends only on the document (absolute paths; see ``_document_constant``)
        self.document_constant = _document_constant(expr)

    def _evaluate(self, node: _Element) -> Any:
        if self.document_constant and _COMPLETE_DOCUMENTS:
            results = _COMPLETE_DOCUMENTS.get(node.getroottree().getroot())
            if results is not None:
                result = results.get(self, _MISSING)
                if result is _MISSING:
                    result = results[self] = self._xpath(node)
                return result
        return self._xpath(node)

    def all(self, node: Any) -> list[Any]:
        if not isinstance(node, _Element):
            return []
        result = self._evaluate(node)
        if isinstance(result, list):
            values = [_value(r) for r in result]
            return [v for v in values if v is not None and v != ""]
        if result == "" or result is None:
            return []
        return [_value(result)]

    def first(self, node: Any) -> Any:
        if not isinstance(node, _Element):
            return None
        result = self._evaluate(node)
        if isinstance(result, list):
            for r in result:
                v = _value(r)
                if v is not None and v != "":
                    return v
            return None
        if result == "" or result is None:
            return None
        return _value(result)

    def __repr__(self) -> str:
        return f"XPath({self.expr!r})"


#: Roots of documents parsed whole and never changed while records are translated (``complete_document``),
#: each with its results of document-constant expressions. A repeated header read by every record
#: (``/CTfile/Header/...`` with 800 headers and 800 pupils) is then evaluated once per document, not once per
#: record: the cost stays linear in the input. Streaming readers, which change the tree as they go, never
#: register their documents, so they always evaluate afresh.
#: The reader registers a document for as long as it yields its records (``forget_document`` after).
_COMPLETE_DOCUMENTS: dict[_Element, dict[Any, Any]] = {}
_MISSING = object()


def complete_document(root: _Element) -> None:
    """Declare ``root``'s document whole and unchanging from now on (see ``_COMPLETE_DOCUMENTS``)."""
    _COMPLETE_DOCUMENTS[root] = {}


def forget_document(root: _Element) -> None:
    """The reader is done with ``root``: drop it and its cached results."""
    _COMPLETE_DOCUMENTS.pop(root, None)


def _document_constant(expr: str) -> bool:
    """True when ``expr`` reads only absolute paths (outside predicates) and so depends only on the document.

    Conservative: any relative step, ``@``, ``.``, ``..``, ``*`` or zero-argument call (``position()``,
    ``normalize-space()``: the context node) outside a predicate makes it context-dependent.
    """
    try:
        toks = _tokens(expr)
    except ValueError:
        return False
    depth = 0
    absolute = False
    for i, (kind, text) in enumerate(toks):
        before = toks[i - 1] if i else None
        after = toks[i + 1] if i + 1 < len(toks) else None
        if kind == "op" and text == "[":
            depth += 1
            continue
        if kind == "op" and text == "]":
            depth -= 1
            continue
        if depth:
            continue
        step_start = before is None or before not in (("op", "/"), ("op", "//"), ("op", "::"), ("op", "@"))
        if kind == "op" and text in ("/", "//") and step_start:
            absolute = True
        elif kind == "name" and after == ("op", "("):
            if toks[i + 2:i + 3] == [("op", ")")] and text not in ("true", "false"):
                return False
        elif kind == "name" and after == ("op", "::"):
            if step_start:
                return False
        elif (kind == "name" or kind == "op" and text in ("@", ".", "..", "*")) and step_start:
            return False
    return absolute


def compile_xpath(expr: str, namespaces: Mapping[str, str] | None = None) -> XPathExpr:
    """Compile ``expr`` for lxml; raises ``PathSyntaxError`` naming the problem."""
    if not expr or not expr.strip():
        raise PathSyntaxError("empty XPath")
    ns = dict(namespaces or {})
    try:
        compiled = etree.XPath(expr, namespaces=ns, smart_strings=False)
    except etree.XPathSyntaxError as exc:
        raise PathSyntaxError(f"XPath syntax: {exc}") from None
    # Undefined prefixes only show on evaluation: try once on an empty element.
    try:
        compiled(etree.Element("probe"))
    except etree.XPathEvalError as exc:
        raise PathSyntaxError(f"XPath: {exc} (declare prefixes under 'namespaces:')") from None
    return XPathExpr(expr, compiled)
