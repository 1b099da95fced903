"""Structure-aware mutation of native inputs, one family per syntax (JSON, XML, CSV, HL7 v2) plus bytes.

A mutation is data, not randomness: an ``Op`` names what to do and two
integers choose where and how much. ``apply`` turns (seed bytes, ops) into
the mutated bytes deterministically, so hypothesis can draw and shrink op
lists (``strategies.py``) and ``mashlink bench fuzz`` can draw the same ops
from a ``random.Random`` (``random_ops``) without hypothesis.

What the ops cover (issue 18's list): delete / duplicate / nest elements and
keys, swap types scalar <-> list <-> object, huge numbers, deep nesting,
control characters, names that are not valid XML names in CSV headers,
truncation, encoding damage and repeated blocks. Targets are picked by index
modulo the number of candidates, so every op applies to every seed.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import random
from dataclasses import dataclass
from typing import Any

#: Sizes for "how much": repeats, nesting depth, digits. Small ones keep most inputs cheap; the large
#: ones are the hostile cases (deep nesting past every limit, numbers past Python's 4,300-digit limit).
SIZES = (1, 2, 3, 10, 50, 300, 5_000, 20_000)
CONTROL = ["\x00", "\x01", "\x07", "\x0b", "\x1b", "\x7f", "\u0085", "\u2028", "\ufeff", "\u202e", "\ud800"]
BAD_XML_NAMES = ["1CHILD", "CHILD ID", "A<B", "X&Y", "", "DOB\x01", "é\u0300", "a:b:c", "-X", "xml:lang", "\ufffe"]
ODD_SCALARS: list[Any] = [None, True, 0, -1, 1.5e308, "", " ", "null", "0" * 10, [], {}, [1, [2]],
                          {"A": ["Testerson"]}]


@dataclass(frozen=True, slots=True)
class Op:
    """One mutation: ``name`` from the syntax's family, ``where`` picks a target, ``size`` an amount."""

    name: str
    where: int = 0
    size: int = 0


JSON_OPS = ("delete", "duplicate", "nest_list", "nest_object", "swap_type", "odd_scalar", "huge_int",
            "huge_float", "deep", "control", "repeat", "long_string", "dup_key")
XML_OPS = ("delete", "duplicate", "wrap_leaf", "child_in_leaf", "empty", "huge_int", "deep", "control",
           "repeat", "rename", "entity", "long_text", "attribute")
CSV_OPS = ("bad_header", "dup_header", "drop_column", "add_column", "short_row", "long_row", "control",
           "huge_int", "repeat", "quote", "swap_cells", "blank_rows")
HL7_OPS = ("delete", "duplicate", "repeat", "empty_fields", "components", "no_msh", "encoding_chars",
           "control", "escape", "huge_field", "separators", "swap_fields")
BYTE_OPS = ("truncate", "invalid_utf8", "bom", "utf16", "latin1", "insert_control", "repeat_block", "nul_run",
            "empty")

FAMILIES: dict[str, tuple[str, ...]] = {"json": JSON_OPS, "xml": XML_OPS, "csv": CSV_OPS, "hl7": HL7_OPS}


def syntax_of(filename: str) -> str:
    """The mutation family for a seed file, by its name."""
    low = filename.lower()
    if low.endswith(".json"):
        return "json"
    if low.endswith(".xml"):
        return "xml"
    if low.endswith(".csv"):
        return "csv"
    return "hl7"


def _size(op: Op) -> int:
    return SIZES[op.size % len(SIZES)]


# --- JSON ---------------------------------------------------------------------------------------

_PLACEHOLDER = "\u0000MASHLINK-FUZZ-{}\u0000"


def _json_nodes(doc: Any) -> list[tuple[Any, Any]]:
    """(container, key) of every value below the root, pre-order, iteratively."""
    out: list[tuple[Any, Any]] = []
    stack: list[Any] = [doc]
    while stack:
        node = stack.pop()
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node)) if isinstance(node, list) else []
        for key, value in reversed(items):
            out.append((node, key))
            if isinstance(value, (dict, list)):
                stack.append(value)
    return out


def _json_apply(text: str, ops: list[Op]) -> str:
    try:
        doc = json.loads(text)
    except ValueError:
        return text
    raw: dict[str, str] = {}  # placeholder -> JSON text that json.dumps cannot produce (deep, huge, dup keys)
    for op in ops:
        nodes = _json_nodes(doc)
        if not nodes:
            doc = {"x": doc}
            continue
        parent, key = nodes[op.where % len(nodes)]
        value = parent[key]
        n = _size(op)
        if op.name == "delete":
            del parent[key]
        elif op.name == "duplicate":
            if isinstance(parent, list):
                parent.insert(key, copy.deepcopy(value))
            else:
                parent[f"{key}_copy"] = copy.deepcopy(value)
        elif op.name == "nest_list":
            parent[key] = [value]
        elif op.name == "nest_object":
            parent[key] = {str(key): value}
        elif op.name == "swap_type":
            if isinstance(value, dict):
                parent[key] = list(value.values()) if op.size % 2 else json.dumps(value)[:40]
            elif isinstance(value, list):
                parent[key] = value[0] if value and op.size % 2 else {"0": value}
            else:
                parent[key] = [value, value] if op.size % 2 else {"value": value}
        elif op.name == "odd_scalar":
            parent[key] = copy.deepcopy(ODD_SCALARS[op.size % len(ODD_SCALARS)])
        elif op.name in ("huge_int", "huge_float", "deep", "dup_key"):
            mark = _PLACEHOLDER.format(len(raw))
            if op.name == "huge_int":
                raw[mark] = "9" * (4_290 + n)
            elif op.name == "huge_float":
                raw[mark] = ["1e400", "-1e999", "1" + "0" * 400 + ".5", "NaN", "Infinity", "1E+" + str(2**31)][op.size % 6]
            elif op.name == "deep":
                raw[mark] = ("[" * n + "]" * n) if op.size % 2 else ('{"a":' * n + "1" + "}" * n)
            else:
                raw[mark] = json.dumps({"k": value}, default=str)[:-1] + ', "k": ' + json.dumps(value, default=str) + "}"
            parent[key] = mark
        elif op.name == "control":
            ch = CONTROL[op.size % len(CONTROL)]
            parent[key] = (value if isinstance(value, str) else str(value)) + ch + "x"
        elif op.name == "repeat":
            if isinstance(parent, list):
                parent[key:key + 1] = [copy.deepcopy(value) for _ in range(min(n, 5_000))]
            else:
                parent[key] = [copy.deepcopy(value) for _ in range(min(n, 5_000))]
        elif op.name == "long_string":
            parent[key] = "A" * (n * 50)
    out = json.dumps(doc, ensure_ascii=False)
    for mark, text_value in raw.items():
        out = out.replace(json.dumps(mark, ensure_ascii=False), text_value)
    return out


# --- XML ----------------------------------------------------------------------------------------

def _xml_apply(data: bytes, ops: list[Op]) -> bytes:
    from lxml import etree

    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return data
    raw: dict[str, str] = {}
    prefix = b""
    for op in ops:
        elements = [el for el in root.iter() if isinstance(el.tag, str)]
        el = elements[op.where % len(elements)]
        parent = el.getparent()
        n = _size(op)
        leaf = len(el) == 0
        if op.name == "delete" and parent is not None:
            parent.remove(el)
        elif op.name == "duplicate" and parent is not None:
            el.addnext(copy.deepcopy(el))
        elif op.name == "repeat" and parent is not None:
            for _ in range(min(n, 2_000)):
                el.addnext(copy.deepcopy(el))
        elif op.name == "wrap_leaf" and leaf:
            inner = etree.SubElement(el, el.tag if op.size % 2 else "X")
            inner.text, el.text = el.text, None
        elif op.name == "child_in_leaf":
            etree.SubElement(el, "b").text = "x"
        elif op.name == "empty":
            for child in list(el):
                el.remove(child)
            el.text = None if op.size % 2 else " "
        elif op.name in ("huge_int", "control", "long_text"):
            mark = f"MASHLINKFUZZ{len(raw)}Z"
            if op.name == "huge_int":
                raw[mark] = "9" * (4_290 + n)
            elif op.name == "control":
                raw[mark] = ["\x01", "&#1;", "&#xFFFE;", "\x0b", "&#0;", "\u2028", "]]>", "&bogus;", "<", "&"][op.size % 10]
            else:
                raw[mark] = "A" * (n * 50)
            if leaf:
                el.text = (el.text or "") + mark
            else:
                el.tail = (el.tail or "") + mark
        elif op.name == "deep" and parent is not None:
            outer = etree.Element(el.tag)
            node = outer
            for _ in range(min(n, 20_000) - 1):
                node = etree.SubElement(node, "N")
            node.append(copy.deepcopy(el))
            el.addnext(outer)
        elif op.name == "rename":
            mark = f"MASHLINKFUZZ{len(raw)}Z"
            el.tag = mark
            raw[mark] = ["9Bad", "A B", "Pupil", "CTfile", "Child", "CHILD", "Header", "x:y"][op.size % 8]
        elif op.name == "entity":
            depth = 3 + op.size % 6
            ents = ['<!ENTITY e0 "lol">'] + [f'<!ENTITY e{i} "{("&e" + str(i - 1) + ";") * 10}">' for i in range(1, depth)]
            prefix = f"<!DOCTYPE {root.tag} [{''.join(ents)}]>\n".encode()
            el.text = (el.text or "") + "ENTITYREF"
            raw["ENTITYREF"] = f"&e{depth - 1};"
        elif op.name == "attribute":
            el.set("xmlns-like", "x")
            el.set("{http://example.invalid/ns}attr", "y" * min(n, 10_000))
    body = etree.tostring(root, encoding="UTF-8")
    text = body.decode("utf-8")
    for mark, value in raw.items():
        text = text.replace(mark, value)
    head = b'<?xml version="1.0" encoding="UTF-8"?>\n'
    return head + prefix + text.encode("utf-8", "surrogatepass")


# --- CSV ----------------------------------------------------------------------------------------

def _csv_apply(text: str, ops: list[Op]) -> str:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        return text
    tail = ""
    for op in ops:
        header = rows[0]
        width = max(len(header), 1)
        col = op.where % width
        body = rows[1:]
        row = body[op.where % len(body)] if body else header
        n = _size(op)
        if op.name == "bad_header" and header:
            header[col] = BAD_XML_NAMES[op.size % len(BAD_XML_NAMES)]
        elif op.name == "dup_header" and header:
            header[col] = header[(col + 1) % width]
        elif op.name == "drop_column":
            for r in rows:
                if col < len(r):
                    del r[col]
        elif op.name == "add_column":
            for i, r in enumerate(rows):
                r.insert(col, "EXTRA" if i == 0 else "x")
        elif op.name == "short_row" and row is not header and row:
            del row[op.size % len(row)]
        elif op.name == "long_row" and row is not header:
            row.extend(["y"] * min(n, 1_000))
        elif op.name == "control" and row:
            row[col % len(row)] = row[col % len(row)] + CONTROL[op.size % len(CONTROL)]
        elif op.name == "huge_int" and row is not header and row:
            row[col % len(row)] = "9" * (4_290 + n)
        elif op.name == "repeat" and body:
            rows.extend(copy.deepcopy(row) for _ in range(min(n, 5_000)))
        elif op.name == "quote":
            tail = ['"unterminated,1,2\n', '"a""b",\n', 'x,"y\nz"\n', '\\,\\\n'][op.size % 4]
        elif op.name == "swap_cells" and row and len(row) > 1:
            i, j = col % len(row), (col + 1) % len(row)
            row[i], row[j] = row[j], row[i]
        elif op.name == "blank_rows":
            rows.insert(1 + op.where % len(rows), [])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(rows)
    return out.getvalue() + tail


# --- HL7 v2 -------------------------------------------------------------------------------------

def _hl7_apply(text: str, ops: list[Op]) -> str:
    segments = [s for s in text.replace("\r\n", "\r").replace("\n", "\r").split("\r") if s]
    if not segments:
        return text
    for op in ops:
        i = op.where % len(segments)
        seg = segments[i]
        fields = seg.split("|")
        n = _size(op)
        f = 1 + op.where % max(len(fields) - 1, 1)
        if op.name == "delete" and len(segments) > 1:
            del segments[i]
        elif op.name == "duplicate":
            segments.insert(i, seg)
        elif op.name == "repeat":
            segments[i:i + 1] = [seg] * min(n, 5_000)
        elif op.name == "empty_fields":
            segments[i] = seg + "|" * min(n * 10, 200_000)
        elif op.name == "components" and f < len(fields):
            fields[f] = fields[f] + "^" * min(n, 5_000) + "~" + "&" * min(n, 5_000)
            segments[i] = "|".join(fields)
        elif op.name == "no_msh":
            segments = [s for s in segments if not s.startswith("MSH")] or ["PID|1"]
        elif op.name == "encoding_chars" and seg.startswith("MSH"):
            segments[i] = "MSH" + ["|", "||", "|^", "|^~\\&|^~", "", "|\x00~\\&"][op.size % 6] + seg[8:]
        elif op.name == "control" and f < len(fields):
            fields[f] = fields[f] + CONTROL[op.size % len(CONTROL)]
            segments[i] = "|".join(fields)
        elif op.name == "escape" and f < len(fields):
            fields[f] = fields[f] + ["\\X0D\\", "\\E\\", "\\", "\\X\\", "\\XZZ\\", "\\.br\\", "\\H\\\\N\\"][op.size % 7]
            segments[i] = "|".join(fields)
        elif op.name == "huge_field" and f < len(fields):
            fields[f] = "9" * (4_290 + n)
            segments[i] = "|".join(fields)
        elif op.name == "separators":
            sep = ["\n", "\r\n", "\r\r", "\n\r"][op.size % 4]
            return sep.join(segments) + sep
        elif op.name == "swap_fields" and len(fields) > 2:
            g = 1 + (op.where + 1) % (len(fields) - 1)
            fields[f], fields[g] = fields[g], fields[f]
            segments[i] = "|".join(fields)
    return "\r".join(segments) + "\r"


# --- bytes (any syntax) -------------------------------------------------------------------------

def _bytes_apply(data: bytes, op: Op) -> bytes:
    n = _size(op)
    at = (op.where * 7919) % (len(data) + 1)
    if op.name == "truncate":
        return data[:at]
    if op.name == "invalid_utf8":
        return data[:at] + [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf"][op.size % 5] + data[at:]
    if op.name == "bom":
        return b"\xef\xbb\xbf" * (1 + op.size % 2) + data if op.size % 3 else data[:at] + b"\xef\xbb\xbf" + data[at:]
    if op.name == "utf16":
        try:
            return data.decode("utf-8").encode("utf-16" if op.size % 2 else "utf-16-be")
        except UnicodeDecodeError:
            return data
    if op.name == "latin1":
        return data[:at] + "Zoë Ångström £".encode("latin-1") + data[at:]
    if op.name == "insert_control":
        return data[:at] + bytes([op.size % 32]) * max(1, min(n, 100)) + data[at:]
    if op.name == "repeat_block":
        end = min(len(data), at + 1 + op.where % 997)
        return data[:end] + data[at:end] * min(n, 1_000) + data[end:]
    if op.name == "nul_run":
        return data[:at] + b"\x00" * min(n, 100_000) + data[at:]
    if op.name == "empty":
        return b"" if op.size % 2 else b"\n"
    return data


def apply(filename: str, data: bytes, ops: list[Op]) -> bytes:
    """The seed ``data`` (named ``filename``) with ``ops`` applied: structural ops first, then byte ops."""
    structural = [op for op in ops if op.name not in BYTE_OPS]
    byte_ops = [op for op in ops if op.name in BYTE_OPS]
    syntax = syntax_of(filename)
    family = FAMILIES[syntax]
    structural = [op for op in structural if op.name in family]
    if structural:
        if syntax == "xml":
            data = _xml_apply(data, structural)
        else:
            text = data.decode("utf-8-sig", "surrogateescape")
            if syntax == "json":
                text = _json_apply(text, structural)
            elif syntax == "csv":
                text = _csv_apply(text, structural)
            else:
                text = _hl7_apply(text, structural)
            try:
                data = text.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:  # a lone surrogate the ops put in: bytes no encoder would write
                data = text.encode("utf-8", "surrogatepass")
    for op in byte_ops:
        data = _bytes_apply(data, op)
    return data


def random_ops(rng: random.Random, filename: str, max_ops: int = 4) -> list[Op]:
    """The same shape of op list the hypothesis strategy draws, from a plain ``random.Random`` (bench)."""
    family = FAMILIES[syntax_of(filename)]
    ops = [Op(rng.choice(family), rng.randrange(10_000), rng.randrange(len(SIZES)))
           for _ in range(rng.randint(1, max_ops))]
    if rng.random() < 0.2:
        ops.append(Op(rng.choice(BYTE_OPS), rng.randrange(10_000), rng.randrange(len(SIZES))))
    return ops
