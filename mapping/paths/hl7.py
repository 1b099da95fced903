"""HL7 v2 paths over a pre-split message: ``PID-3[CX.4=NHS].1`` style.

The HL7 connector (or ``split_message`` here, for files and tests) turns a
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
from dataclasses import dataclass, field
from typing import Any

from ..errors import PathSyntaxError

Repetition = list[list[str]]  # components -> subcomponents
Field = list[Repetition]


@dataclass
class Hl7Segment:
    """One segment; ``fields[n]`` is field n in HL7 numbering (``fields[0]`` is the name)."""

    name: str
    fields: list[Field]


@dataclass
class Hl7Message:
    segments: list[Hl7Segment] = field(default_factory=list)

    def by_name(self, name: str) -> list[Hl7Segment]:
        return [s for s in self.segments if s.name == name]


@dataclass
class Hl7Rep:
    """One field repetition as a ``for_each`` context."""

    components: Repetition


def _unescape(text: str, fs: str = "|", comp: str = "^", rep: str = "~", esc: str = "\\", sub: str = "&") -> str:
    """Decode HL7 escapes with the message's own delimiters: \\F\\ \\S\\ \\T\\ \\R\\ \\E\\, \\Xhh..\\, \\.br\\.

    The same reading as the ``translate hl7v2`` fast parser (a differential fuzz test compares them):
    highlighting (\\H\\ \\N\\) and character-set or formatting commands are dropped; an
    unterminated or unknown sequence is kept literally.
    """
    if not esc or esc not in text:
        return text
    simple = {"F": fs, "S": comp, "T": sub, "R": rep, "E": esc}
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        j = text.find(esc, i)
        if j < 0:
            out.append(text[i:])
            break
        out.append(text[i:j])
        k = text.find(esc, j + 1)
        if k < 0:
            out.append(text[j:])
            break
        code = text[j + 1:k]
        if code in simple:
            out.append(simple[code])
        elif code[:1] == "X" and len(code) > 1 and len(code) % 2 == 1:
            try:
                raw = bytes.fromhex(code[1:])
            except ValueError:
                out.append(text[j:k + 1])
            else:
                try:
                    out.append(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    out.append(raw.decode("latin-1"))
        elif code == ".br":
            out.append("\n")
        elif code in ("H", "N") or code[:1] in ("C", "M", "."):
            pass
        else:
            out.append(text[j:k + 1])
        i = k + 1
    return "".join(out)


def split_message(text: str) -> Hl7Message:
    """Split one ER7-encoded message (segments separated by CR or LF)."""
    lines = [ln for ln in re.split(r"\r\n|\r|\n", text.strip()) if ln.strip()]
    if not lines or not lines[0].startswith("MSH") or len(lines[0]) < 8:
        raise ValueError("an HL7 v2 message starts with an MSH segment")
    fs = lines[0][3]
    comp, rep, _esc, sub = lines[0][4], lines[0][5], lines[0][6], lines[0][7]
    message = Hl7Message()
    for line in lines:
        raw = line.split(fs)
        name = raw[0]
        if name == "MSH":
            raw = ["MSH", fs, *raw[1:]]
        fields: list[Field] = [[[[name]]]]
        for index, value in enumerate(raw[1:], start=1):
            if name == "MSH" and index in (1, 2):
                fields.append([[[value]]])
                continue
            fields.append(
                [[[_unescape(s, fs, comp, rep, _esc, sub) for s in c.split(sub)] for c in r.split(comp)]
                 for r in value.split(rep)]
            )
        message.segments.append(Hl7Segment(name, fields))
    return message


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
