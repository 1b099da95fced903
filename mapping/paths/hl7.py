"""HL7 v2 paths over a pre-split message: ``PID-3[CX.4=NHS].1`` style.

The one ER7 parser (``hl7_er7.FastMessage``; ``split_message`` here) turns a
message into ``Hl7Message``: segments, each a list of fields, each a list of
repetitions, each a list of components, each a list of subcomponents. Paths
then never re-parse text per record.

Grammar::

    path   := SEG ('(' INT ')')? segsel? ('-' FIELD rep? ('.' COMP ('.' SUB)?)?)?
            | '.' COMP ('.' SUB)?                  (relative: inside a repetition)
    segsel := '[' FIELD ('=' | '!=') VALUE ('|' VALUE)* ']'   (segments whose field's first
                                                              component is / is not one of the
                                                              values, compared trimmed, any case)
    rep    := '(' INT ')'                          (1-based repetition)
            | '[' '*' ']'
            | '[' (TYPE '.')? INT '=' VALUE ']'    (repetitions whose component INT = VALUE)

``PID-3[CX.4=NHS].1`` is the NHS number; ``PID-5.1.1`` the family name;
``NK1`` (for ``for_each``) each NK1 segment, whose sub-rules use ``NK1-2.1``;
``PID-3`` (for ``for_each``) each repetition, whose sub-rules use ``.1``;
``PV1[2=E|I]`` (for ``for_each``) the PV1 segments of patient class E or I, and
``PV1[2!=E|I]`` the others (an outpatient visit is then not a finding, but it
can still be reported as an issue: never silently dropped).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import PathSyntaxError
from .hl7_er7 import FastMessage, Field, Hl7Message, Hl7Segment, Repetition

__all__ = ["Hl7Message", "Hl7Segment", "Hl7Rep", "Hl7Path", "compile_hl7_path", "split_message", "Field"]


@dataclass
class Hl7Rep:
    """One field repetition as a ``for_each`` context."""

    components: Repetition


def split_message(text: str) -> Hl7Message:
    """Split one ER7-encoded message (segments separated by CR, LF or CRLF) with the one HL7 parser.

    The same splitting as the live feed and ``translate hl7v2`` (``hl7_er7.FastMessage``):
    escapes decoded per subcomponent with the message's own delimiters. Raises
    ``Hl7ParseError`` (a ``ValueError``) naming the rule when MSH cannot be read.
    """
    return FastMessage.parse(text).to_path_message()


_PATH_RE = re.compile(
    r"^(?P<seg>[A-Z][A-Z0-9]{2})(\((?P<segrep>\d+)\))?"
    r"(\[(?P<sfield>\d+)(?P<sop>!?=)(?P<svals>[^\]]*)\])?"
    r"(-(?P<field>\d+)(?P<rep>\((?P<repn>\d+)\)|\[\*\]|\[(?:(?P<type>[A-Z]{2,3})\.)?(?P<fcomp>\d+)=(?P<fval>[^\]]*)\])?"
    r"(\.(?P<comp>\d+)(\.(?P<sub>\d+))?)?)?$"
)
_REL_RE = re.compile(r"^\.(?P<comp>\d+)(\.(?P<sub>\d+))?$")


def _component(rep: Repetition, comp: int | None, sub: int | None) -> Any:
    if comp is None:
        comp, sub = 1, 1 if sub is None else sub
    if comp > len(rep):
        return None
    subs = rep[comp - 1]
    index = (sub or 1) - 1
    value = subs[index] if index < len(subs) else None
    return value or None


def _segment_code(seg: Hl7Segment, field: int) -> str:
    """First component of a segment field's first repetition, trimmed and upper-cased ('' when absent)."""
    if field >= len(seg.fields) or not seg.fields[field] or not seg.fields[field][0]:
        return ""
    value = _component(seg.fields[field][0], 1, 1)
    return str(value).strip().upper() if value else ""


class Hl7Path:
    __slots__ = ("expr", "seg", "segrep", "field", "repn", "filter", "comp", "sub", "relative", "segfilter")

    def __init__(self, expr: str, **parts: Any):
        self.expr = expr
        for key in self.__slots__[1:]:
            setattr(self, key, parts.get(key))

    def _segments(self, node: Any) -> list[Hl7Segment]:
        if isinstance(node, Hl7Message):
            segs = node.by_name(self.seg)
        elif isinstance(node, Hl7Segment):
            segs = [node] if node.name == self.seg else []
        else:
            return []
        if self.segrep is not None:
            segs = segs[self.segrep - 1 : self.segrep]
        if self.segfilter is not None:
            field, negate, values = self.segfilter
            segs = [seg for seg in segs if (_segment_code(seg, field) in values) != negate]
        return segs

    def all(self, node: Any) -> list[Any]:
        if self.relative:
            if isinstance(node, Hl7Rep):
                value = _component(node.components, self.comp, self.sub)
                return [] if value is None else [value]
            if isinstance(node, str) and node and self.comp == 1 and (self.sub or 1) == 1:
                return [node]  # a repetition of one component ("SMITH" in PID-5) is that component
            return []
        segs = self._segments(node)
        if self.field is None:
            return list(segs)
        out: list[Any] = []
        for seg in segs:
            if self.field >= len(seg.fields):
                continue
            reps = seg.fields[self.field]
            if self.repn is not None:
                reps = reps[self.repn - 1 : self.repn]
            elif self.filter is not None:
                fcomp, fval = self.filter
                reps = [r for r in reps if _component(r, fcomp, 1) == fval]
            for rep in reps:
                if self.comp is None and self.sub is None and (len(rep) > 1 or len(rep[0]) > 1):
                    if not any(any(s for s in c) for c in rep):
                        continue
                    out.append(Hl7Rep(rep))
                    continue
                value = _component(rep, self.comp, self.sub)
                if value is not None:
                    out.append(value)
        return out

    def first(self, node: Any) -> Any:
        found = self.all(node)
        return found[0] if found else None

    def __repr__(self) -> str:
        return f"Hl7Path({self.expr!r})"


def compile_hl7_path(expr: str, namespaces: Mapping[str, str] | None = None) -> Hl7Path:
    text = (expr or "").strip()
    rel = _REL_RE.match(text)
    if rel:
        return Hl7Path(expr, relative=True, comp=int(rel.group("comp")),
                       sub=int(rel.group("sub")) if rel.group("sub") else None)
    match = _PATH_RE.match(text)
    if not match:
        raise PathSyntaxError(
            "HL7 v2 path must look like SEG-FIELD[(REP)|[TYPE.N=VALUE]][.COMP[.SUB]], e.g. PID-3[CX.4=NHS].1, "
            "or SEG[FIELD=V1|V2] for segments, e.g. PV1[2=E|I]"
        )
    g = match.groupdict()
    parts: dict[str, Any] = {
        "seg": g["seg"],
        "segrep": int(g["segrep"]) if g["segrep"] else None,
        "field": int(g["field"]) if g["field"] else None,
        "repn": int(g["repn"]) if g["repn"] else None,
        "filter": (int(g["fcomp"]), g["fval"]) if g["fcomp"] else None,
        "comp": int(g["comp"]) if g["comp"] else None,
        "sub": int(g["sub"]) if g["sub"] else None,
        "relative": False,
        "segfilter": (int(g["sfield"]), g["sop"] == "!=",
                      frozenset(v.strip().upper() for v in g["svals"].split("|"))) if g["sfield"] else None,
    }
    for key in ("field", "repn", "comp", "sub", "segrep"):
        if key == "segrep" and parts["segfilter"] is not None and parts["segfilter"][0] == 0:
            raise PathSyntaxError("HL7 v2 field numbers start at 1")
        if parts[key] == 0:
            raise PathSyntaxError(f"HL7 v2 {key} numbers start at 1")
    return Hl7Path(expr, **parts)
