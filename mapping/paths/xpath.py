"""XPath 1.0 via lxml, compiled once per expression with the spec's namespaces.

Elements yield their text, attributes and string results yield themselves,
so ``Child/ChildIdentifiers/UPN`` and ``@id`` both give strings. ``for_each``
gets the elements themselves, and sub-rule paths are relative to them.

Speed: evaluating an lxml ``XPath`` costs a few microseconds however simple
the expression (a new evaluation context, a proxy per result node), and a
DfE record runs a hundred of them. So each expression is also compiled, when
the spec loads, into Python closures over lxml's element API for the subset
of XPath 1.0 the shipped specs use: location paths on the ``child``,
``parent``, ``self``, ``attribute``, ``ancestor`` and ``preceding-sibling``
axes with name tests and predicates; literals, numbers, ``and``/``or``,
comparisons, ``+ - * div mod``, and the string, boolean and number functions
(``concat``, ``normalize-space``, ``substring``, ``translate``, ``count``...).
An expression outside the subset keeps lxml only. At run time, whenever the
Python evaluation meets a case whose exact XPath result it does not
reproduce (a union whose branches both match, a non-integral number turned
into a string, a step from several context nodes on a non-child axis), it
raises ``_NeedXPath`` and lxml evaluates the whole expression: the answer is
always lxml's, only cheaper. ``tests/mapping/test_mapping_xml_fast.py``
checks the two against each other on the shipped specs and on messy input.

Child lookups go through a per-record index (element -> {tag: children}),
built the first time a rule reads an element's children: the generated
translator passes one dict per record (``cache``), so fifty rules reading
``ChildIdentifiers/...`` walk its children once. The fast path never
changes the tree, so the index stays valid for the record.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
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


# --- the Python evaluator ------------------------------------------------------------------


class _NeedXPath(Exception):
    """Raised by the Python evaluator when lxml must decide (see module docs)."""


class _Unsupported(Exception):
    """An expression outside the compiled subset: lxml evaluates it."""


_XML_WS = " \t\r\n"
_XML_WS_RUN = re.compile(r"[ \t\r\n]+")
_NUMBER_TEXT = re.compile(r"^[ \t\r\n]*(-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))[ \t\r\n]*$")
_ALL = None  # index key of "every element child" (name test '*')

#: (node, position, size, cache) -> value; values are XPath's four types: a node
#: list (elements, or ``str`` for attribute nodes), ``str``, ``float``, ``bool``.
_Fn = Callable[[Any, int, int, dict], Any]


def _children(el: _Element, cache: dict) -> dict:
    """{tag: [element children in document order]} plus {None: every element child}, built once per record."""
    index = cache.get(el)
    if index is None:
        index = {}
        every = []
        for child in el:
            tag = child.tag
            if tag.__class__ is str:  # comments, PIs and entities have a function as tag
                every.append(child)
                same = index.get(tag)
                if same is None:
                    index[tag] = [child]
                else:
                    same.append(child)
        index[_ALL] = every
        cache[el] = index
    return index


def _string_value(node: Any) -> str:
    if node.__class__ is str:
        return node
    if not len(node):
        return node.text or ""
    return "".join(node.itertext())  # text and CDATA of all descendants, no comments/PIs (as libxml2)


def _to_string(value: Any) -> str:
    cls = value.__class__
    if cls is str:
        return value
    if cls is list:
        return _string_value(value[0]) if value else ""
    if cls is bool:
        return "true" if value else "false"
    if value != value:
        return "NaN"
    if value.is_integer() and -1e9 < value < 1e9:
        return str(int(value))  # also -0 -> "0"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    raise _NeedXPath  # libxml2's formatting of fractions and large numbers is its own


def _str_to_number(text: str) -> float:
    m = _NUMBER_TEXT.match(text)
    if m:
        return float(m.group(1))
    if "e" in text or "E" in text:
        raise _NeedXPath  # libxml2 also reads exponents ('1e3'), beyond XPath 1.0
    return math.nan


def _to_number(value: Any) -> float:
    cls = value.__class__
    if cls is float:
        return value
    if cls is bool:
        return 1.0 if value else 0.0
    return _str_to_number(_to_string(value))


def _to_bool(value: Any) -> bool:
    cls = value.__class__
    if cls is bool:
        return value
    if cls is float:
        return not (value == 0 or value != value)
    return len(value) > 0  # node list or string


def _compare(op: str, a: Any, b: Any) -> bool:
    """XPath 1.0 section 3.4: existential comparison over node lists, then by type."""
    if a.__class__ is list and b.__class__ is list:
        right = [_string_value(n) for n in b]
        return any(_compare(op, _string_value(x), y) for x in a for y in right)
    if a.__class__ is list or b.__class__ is list:
        nodes, other, flip = (a, b, False) if a.__class__ is list else (b, a, True)
        if other.__class__ is bool:
            x, y = _to_bool(nodes), other
            return _compare_atoms(op, y, x) if flip else _compare_atoms(op, x, y)
        for n in nodes:
            s = _string_value(n)
            v = _str_to_number(s) if other.__class__ is float or op not in ("=", "!=") else s
            if _compare_atoms(op, other, v) if flip else _compare_atoms(op, v, other):
                return True
        return False
    return _compare_atoms(op, a, b)


def _compare_atoms(op: str, a: Any, b: Any) -> bool:
    if op in ("=", "!="):
        if a.__class__ is bool or b.__class__ is bool:
            a, b = _to_bool(a), _to_bool(b)
        elif a.__class__ is float or b.__class__ is float:
            a, b = _to_number(a), _to_number(b)
        else:
            a, b = _to_string(a), _to_string(b)
        return (a == b) if op == "=" else (a != b)
    x, y = _to_number(a), _to_number(b)
    if op == "<":
        return x < y
    if op == "<=":
        return x <= y
    if op == ">":
        return x > y
    return x >= y


def _xround(x: float) -> float:
    if x != x or x in (math.inf, -math.inf):
        return x
    return float(math.floor(x + 0.5))


def _substring(s: str, start: float, length: float | None) -> str:
    a = _xround(start)
    if a != a:
        return ""
    if length is None:
        end = math.inf
    else:
        end = a + _xround(length)
        if end != end:
            return ""
    lo = max(a, 1.0)
    hi = min(end, len(s) + 1.0)
    if hi <= lo:
        return ""
    return s[int(lo) - 1:int(hi) - 1]


def _translate(s: str, src: str, dst: str) -> str:
    table: dict[int, int | None] = {}
    for i, ch in enumerate(src):
        table.setdefault(ord(ch), ord(dst[i]) if i < len(dst) else None)
    return s.translate(table)


def _normalize(s: str) -> str:
    return _XML_WS_RUN.sub(" ", s).strip(_XML_WS)


def _arity(name: str, args: list[_Fn], low: int, high: int) -> None:
    if not low <= len(args) <= high:
        raise _Unsupported(f"{name}() with {len(args)} arguments")


def _function(name: str, args: list[_Fn]) -> _Fn:
    """A closure for one XPath core function (those outside this list stay with lxml)."""
    if name == "concat":
        if len(args) < 2:
            raise _Unsupported("concat() needs two arguments")
        return lambda n, p, z, c: "".join([_to_string(f(n, p, z, c)) for f in args])
    if name in ("normalize-space", "string", "string-length", "number"):
        _arity(name, args, 0, 1)
        if args:
            arg = args[0]
            get = lambda n, p, z, c: _to_string(arg(n, p, z, c))  # noqa: E731
        else:
            get = lambda n, p, z, c: _string_value(n)  # noqa: E731
        if name == "normalize-space":
            return lambda n, p, z, c: _normalize(get(n, p, z, c))
        if name == "string":
            return get
        if name == "string-length":
            return lambda n, p, z, c: float(len(get(n, p, z, c)))
        if args:
            return lambda n, p, z, c: _to_number(arg(n, p, z, c))
        return lambda n, p, z, c: _str_to_number(_string_value(n))
    if name == "count":
        _arity(name, args, 1, 1)
        arg = args[0]

        def count(n: Any, p: int, z: int, c: dict) -> float:
            v = arg(n, p, z, c)
            if v.__class__ is not list:
                raise _NeedXPath
            return float(len(v))
        return count
    if name in ("boolean", "not"):
        _arity(name, args, 1, 1)
        arg = args[0]
        if name == "boolean":
            return lambda n, p, z, c: _to_bool(arg(n, p, z, c))
        return lambda n, p, z, c: not _to_bool(arg(n, p, z, c))
    if name in ("true", "false"):
        _arity(name, args, 0, 0)
        const = name == "true"
        return lambda n, p, z, c: const
    if name in ("contains", "starts-with"):
        _arity(name, args, 2, 2)
        a, b = args
        if name == "contains":
            return lambda n, p, z, c: _to_string(b(n, p, z, c)) in _to_string(a(n, p, z, c))
        return lambda n, p, z, c: _to_string(a(n, p, z, c)).startswith(_to_string(b(n, p, z, c)))
    if name == "substring":
        _arity(name, args, 2, 3)
        s, start = args[0], args[1]
        if len(args) == 2:
            return lambda n, p, z, c: _substring(_to_string(s(n, p, z, c)), _to_number(start(n, p, z, c)), None)
        ln = args[2]
        return lambda n, p, z, c: _substring(_to_string(s(n, p, z, c)), _to_number(start(n, p, z, c)),
                                             _to_number(ln(n, p, z, c)))
    if name == "translate":
        _arity(name, args, 3, 3)
        a, b, d = args
        return lambda n, p, z, c: _translate(_to_string(a(n, p, z, c)), _to_string(b(n, p, z, c)),
                                             _to_string(d(n, p, z, c)))
    if name in ("position", "last"):
        _arity(name, args, 0, 0)
        if name == "position":
            return lambda n, p, z, c: float(p)
        return lambda n, p, z, c: float(z)
    raise _Unsupported(f"function {name}()")


# --- tokens and parser -----------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r\n]+)
  | (?P<str>"[^"]*"|'[^']*')
  | (?P<num>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)
  | (?P<op>//|::|\.\.|!=|<=|>=|[()\[\],/|+\-*=<>@.$])
  | (?P<name>[A-Za-z_][\w.\-]*(?::(?:[A-Za-z_][\w.\-]*|\*))?)
""", re.VERBOSE)

_AXES = {"child", "parent", "self", "attribute", "ancestor", "preceding-sibling"}
_OPERATOR_NAMES = {"and", "or", "div", "mod"}


def _tokens(expr: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None:
            raise _Unsupported(f"character {expr[pos]!r}")
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
                raise _Unsupported(f"name {text!r} after an operand")
            kind = "opname"
        out.append((kind, text))
    return out


class _Parser:
    """Recursive descent over XPath 1.0's grammar, building closures."""

    def __init__(self, expr: str, namespaces: Mapping[str, str]):
        self.toks = _tokens(expr)
        self.i = 0
        self.ns = namespaces

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def at(self, *texts: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] in ("op", "opname") and tok[1] in texts

    def take(self, text: str) -> None:
        if not self.at(text):
            raise _Unsupported(f"expected {text!r}")
        self.i += 1

    def parse(self) -> _Fn:
        fn = self.or_expr()
        if self.i != len(self.toks):
            raise _Unsupported("trailing tokens")
        return fn

    def or_expr(self) -> _Fn:
        fn = self.and_expr()
        while self.at("or"):
            self.i += 1
            left, right = fn, self.and_expr()
            fn = lambda n, p, z, c, a=left, b=right: _to_bool(a(n, p, z, c)) or _to_bool(b(n, p, z, c))  # noqa: E731
        return fn

    def and_expr(self) -> _Fn:
        fn = self.equality()
        while self.at("and"):
            self.i += 1
            left, right = fn, self.equality()
            fn = lambda n, p, z, c, a=left, b=right: _to_bool(a(n, p, z, c)) and _to_bool(b(n, p, z, c))  # noqa: E731
        return fn

    def equality(self) -> _Fn:
        fn = self.relational()
        while self.at("=", "!="):
            op = self.toks[self.i][1]
            self.i += 1
            left, right = fn, self.relational()
            fn = lambda n, p, z, c, a=left, b=right, o=op: _compare(o, a(n, p, z, c), b(n, p, z, c))  # noqa: E731
        return fn

    def relational(self) -> _Fn:
        fn = self.additive()
        while self.at("<", "<=", ">", ">="):
            op = self.toks[self.i][1]
            self.i += 1
            left, right = fn, self.additive()
            fn = lambda n, p, z, c, a=left, b=right, o=op: _compare(o, a(n, p, z, c), b(n, p, z, c))  # noqa: E731
        return fn

    def additive(self) -> _Fn:
        fn = self.multiplicative()
        while self.at("+", "-"):
            op = self.toks[self.i][1]
            self.i += 1
            left, right = fn, self.multiplicative()
            if op == "+":
                fn = lambda n, p, z, c, a=left, b=right: _to_number(a(n, p, z, c)) + _to_number(b(n, p, z, c))  # noqa: E731
            else:
                fn = lambda n, p, z, c, a=left, b=right: _to_number(a(n, p, z, c)) - _to_number(b(n, p, z, c))  # noqa: E731
        return fn

    def multiplicative(self) -> _Fn:
        fn = self.unary()
        while self.at("*", "div", "mod"):
            op = self.toks[self.i][1]
            self.i += 1
            if op != "*":
                raise _Unsupported(op)  # IEEE division and fmod corner cases: left to lxml
            left, right = fn, self.unary()
            fn = lambda n, p, z, c, a=left, b=right: _to_number(a(n, p, z, c)) * _to_number(b(n, p, z, c))  # noqa: E731
        return fn

    def unary(self) -> _Fn:
        if self.at("-"):
            self.i += 1
            inner = self.unary()
            return lambda n, p, z, c: -_to_number(inner(n, p, z, c))
        return self.union()

    def union(self) -> _Fn:
        branches = [self.path_expr()]
        while self.at("|"):
            self.i += 1
            branches.append(self.path_expr())
        if len(branches) == 1:
            return branches[0]

        def union(n: Any, p: int, z: int, c: dict) -> list[Any]:
            found: list[Any] | None = None
            for branch in branches:
                v = branch(n, p, z, c)
                if v.__class__ is not list:
                    raise _NeedXPath
                if v:
                    if found is not None:
                        raise _NeedXPath  # two branches matched: document order is lxml's job
                    found = v
            return found if found is not None else []
        return union

    def path_expr(self) -> _Fn:
        tok = self.peek()
        if tok is None:
            raise _Unsupported("unexpected end")
        kind, text = tok
        nxt = self.peek(1)
        if kind == "str":
            self.i += 1
            value = text[1:-1]
            return self.no_path_after(lambda n, p, z, c: value)
        if kind == "num":
            self.i += 1
            number = float(text)
            return self.no_path_after(lambda n, p, z, c: number)
        if kind == "op" and text == "(":
            self.i += 1
            inner = self.or_expr()
            self.take(")")
            return self.no_path_after(inner)
        if kind == "op" and text == "$":
            raise _Unsupported("variables")
        if kind == "name" and nxt is not None and nxt[1] == "(" and text not in ("node", "text", "comment",
                                                                                 "processing-instruction"):
            self.i += 2
            args: list[_Fn] = []
            if not self.at(")"):
                args.append(self.or_expr())
                while self.at(","):
                    self.i += 1
                    args.append(self.or_expr())
            self.take(")")
            return self.no_path_after(_function(text, args))
        return self.location_path()

    def no_path_after(self, fn: _Fn) -> _Fn:
        """A primary expression, with predicates when it is a filter expression ``(A | B)[...]``."""
        preds = []
        while self.at("["):
            self.i += 1
            preds.append(self.or_expr())
            self.take("]")
        if self.at("/", "//"):
            raise _Unsupported("paths after a filter expression")
        if not preds:
            return fn

        def filtered(n: Any, p: int, z: int, c: dict) -> list[Any]:
            nodes = fn(n, p, z, c)
            if nodes.__class__ is not list:
                raise _NeedXPath
            return _filter(nodes, preds, c)  # positions in document order (XPath 1.0 section 3.3)
        return filtered

    def location_path(self) -> _Fn:
        absolute = False
        if self.at("//"):
            raise _Unsupported("'//'")
        if self.at("/"):
            absolute = True
            self.i += 1
            tok = self.peek()
            if tok is None or tok[0] not in ("name",) and not (tok[0] == "op" and tok[1] in ("*", "@", ".", "..")):
                raise _Unsupported("'/' alone")
        steps = [self.step()]
        while self.at("/", "//"):
            if self.at("//"):
                raise _Unsupported("'//'")
            self.i += 1
            steps.append(self.step())
        return _path(steps, absolute)

    def step(self) -> tuple[str, Any, list[_Fn]]:
        """(axis, test, predicates); test is a tag (str), None for '*'."""
        if self.at("."):
            self.i += 1
            return ("self", _ANY_NODE, [])
        if self.at(".."):
            self.i += 1
            return ("parent", _ANY_NODE, [])
        axis = "child"
        if self.at("@"):
            self.i += 1
            axis = "attribute"
        else:
            tok, nxt = self.peek(), self.peek(1)
            if tok is not None and tok[0] == "name" and nxt is not None and nxt[1] == "::":
                axis = tok[1]
                if axis not in _AXES:
                    raise _Unsupported(f"axis {axis}")
                self.i += 2
        tok = self.peek()
        if tok is None:
            raise _Unsupported("missing node test")
        kind, text = tok
        if kind == "op" and text == "*":
            test: Any = _ALL
        elif kind == "name":
            nxt = self.peek(1)
            if nxt is not None and nxt[1] == "(":
                raise _Unsupported(f"node type test {text}()")
            test = self.qname(text)
        else:
            raise _Unsupported(f"node test {text!r}")
        self.i += 1
        preds = []
        while self.at("["):
            self.i += 1
            preds.append(self.or_expr())
            self.take("]")
        return (axis, test, preds)

    def qname(self, text: str) -> str:
        if ":" in text:
            prefix, local = text.split(":", 1)
            if local == "*":
                raise _Unsupported("prefix:*")
            uri = self.ns.get(prefix)
            if uri is None:
                raise _Unsupported(f"undeclared prefix {prefix}")
            return f"{{{uri}}}{local}"
        return text


_ANY_NODE = object()  # node test of '.' and '..'


class _Doc:
    """The document node of the context's tree (start of an absolute path)."""

    __slots__ = ("root",)

    def __init__(self, root: _Element):
        self.root = root


def _axis_nodes(axis: str, test: Any, node: Any, cache: dict) -> list[Any]:
    """Nodes of one step from one context node, in axis order."""
    if node.__class__ is _Doc:
        if axis != "child":
            raise _NeedXPath
        root = node.root
        return [root] if test is _ALL or root.tag == test else []
    if node.__class__ is str:
        raise _NeedXPath  # steps from attribute nodes
    if axis == "child":
        return _children(node, cache).get(test, [])
    if axis == "attribute":
        if test is _ALL:
            raise _NeedXPath
        value = node.get(test)
        return [] if value is None else [value]
    if axis == "parent":
        parent = node.getparent()
        if parent is None:
            raise _NeedXPath
        return [parent] if test is _ANY_NODE or test is _ALL or parent.tag == test else []
    if axis == "self":
        return [node] if test is _ANY_NODE or (node.tag.__class__ is str and (test is _ALL or node.tag == test)) else []
    if axis == "ancestor":
        out = []
        parent = node.getparent()
        while parent is not None:
            if test is _ALL or parent.tag == test:
                out.append(parent)
            parent = parent.getparent()
        # the document node is an ancestor too, but never matches a name test
        return out
    if axis == "preceding-sibling":
        out = []
        sib = node.getprevious()
        while sib is not None:
            tag = sib.tag
            if tag.__class__ is str and (test is _ALL or tag == test):
                out.append(sib)
            sib = sib.getprevious()
        return out
    raise _NeedXPath


def _filter(nodes: list[Any], preds: list[_Fn], cache: dict) -> list[Any]:
    for pred in preds:
        size = len(nodes)
        kept = []
        for pos, node in enumerate(nodes, 1):
            v = pred(node, pos, size, cache)
            if v.__class__ is float:
                if v == pos:
                    kept.append(node)
            elif _to_bool(v):
                kept.append(node)
        nodes = kept
    return nodes


def _path(steps: list[tuple[str, Any, list[_Fn]]], absolute: bool) -> _Fn:
    """A location path as a closure returning a node list in document order."""
    simple = all(axis == "child" and test is not _ALL and not preds for axis, test, preds in steps)
    if simple and not absolute:
        tags = [test for _a, test, _p in steps]
        if len(tags) == 1:
            tag = tags[0]
            return lambda n, p, z, c: _children(n, c).get(tag, []) if n.__class__ is not str else _need()
        def child_path(n: Any, p: int, z: int, c: dict) -> list[Any]:
            if n.__class__ is str:
                raise _NeedXPath
            nodes = [n]
            for tag in tags:
                if len(nodes) == 1:
                    nodes = _children(nodes[0], c).get(tag, [])
                else:
                    nodes = [x for m in nodes for x in _children(m, c).get(tag, ())]
                if not nodes:
                    return []
            return nodes
        return child_path

    def path(n: Any, p: int, z: int, c: dict) -> list[Any]:
        if absolute:
            if n.__class__ is str:
                raise _NeedXPath
            nodes: list[Any] = [_Doc(n.getroottree().getroot())]
        else:
            nodes = [n]
        for axis, test, preds in steps:
            if len(nodes) == 1:
                found = _axis_nodes(axis, test, nodes[0], c)
                if preds:
                    found = _filter(found, preds, c)
                if axis in ("ancestor", "preceding-sibling") and len(found) > 1:
                    found = found[::-1]  # reverse axis: back to document order
                nodes = found
            elif axis in ("child", "attribute", "self"):
                # children (or attributes) of distinct, non-nested nodes in document order
                # are in document order and distinct
                merged: list[Any] = []
                for m in nodes:
                    found = _axis_nodes(axis, test, m, c)
                    if preds:
                        found = _filter(found, preds, c)
                    merged.extend(found)
                nodes = merged
            else:
                raise _NeedXPath
            if not nodes:
                return []
        return nodes
    return path


def _need() -> Any:
    raise _NeedXPath


def compile_fast_xpath(expr: str, namespaces: Mapping[str, str]) -> _Fn | None:
    """The Python closure for ``expr``, or None when it is outside the compiled subset."""
    try:
        return _Parser(expr, namespaces).parse()
    except (_Unsupported, RecursionError):
        return None


# --- the compiled path object ----------------------------------------------------------------


def _child_tags(expr: str, namespaces: Mapping[str, str]) -> tuple[str, ...] | None:
    """The tags of a plain relative child path (``A``, ``p:A/B``), else None."""
    try:
        parser = _Parser(expr, namespaces)
        tags = []
        while True:
            kind, text = parser.toks[parser.i]
            if kind != "name":
                return None
            tags.append(parser.qname(text))
            parser.i += 1
            if parser.i == len(parser.toks):
                return tuple(tags)
            if parser.toks[parser.i] != ("op", "/"):
                return None
            parser.i += 1
    except (_Unsupported, IndexError):
        return None


def _child_first(tags: tuple[str, ...]) -> Callable[[Any, dict], Any]:
    """``first`` of a plain child path: the first matching element's value, walking the record index."""
    if len(tags) == 1:
        tag = tags[0]

        def first1(node: Any, cache: dict) -> Any:
            if not isinstance(node, _Element):
                return None
            index = cache.get(node) or _children(node, cache)
            for el in index.get(tag, ()):
                text = _element_value(el) if len(el) else el.text
                if text is el:
                    return el
                if text:
                    return text
            return None
        return first1
    if len(tags) == 2:
        tag1, tag2 = tags

        def first2(node: Any, cache: dict) -> Any:
            if not isinstance(node, _Element):
                return None
            index = cache.get(node) or _children(node, cache)
            for mid in index.get(tag1, ()):
                for el in (cache.get(mid) or _children(mid, cache)).get(tag2, ()):
                    text = _element_value(el) if len(el) else el.text
                    if text is el:
                        return el
                    if text:
                        return text
            return None
        return first2

    def first(node: Any, cache: dict) -> Any:
        if not isinstance(node, _Element):
            return None
        nodes = [node]
        for tag in tags:
            nodes = [x for m in nodes for x in (cache.get(m) or _children(m, cache)).get(tag, ())]
            if not nodes:
                return None
        for el in nodes:
            text = _element_value(el) if len(el) else el.text
            if text is el:
                return el
            if text:
                return text
        return None
    return first


class XPathExpr:
    """One compiled expression: ``all``/``first`` for the interpreter, ``fast_first``/``fast_all`` for codegen.

    ``fast_first(node, cache)`` and ``fast_all(node, cache)`` give exactly what
    ``first(node)`` and ``all(node)`` give; ``cache`` is the per-record child
    index (one dict per record, see the module docs). They are None when the
    expression is outside the compiled subset.
    """

    __slots__ = ("expr", "_xpath", "_fast", "fast_first", "fast_all", "document_constant")

    def __init__(self, expr: str, xpath: etree.XPath, fast: _Fn | None = None,
                 child_tags: tuple[str, ...] | None = None):
        self.expr = expr
        self._xpath = xpath
        self._fast = fast
        self.fast_first: Callable[[Any, dict], Any] | None = None
        self.fast_all: Callable[[Any, dict], list[Any]] | None = None
        #: depends only on the document (absolute paths; see ``_document_constant``)
        self.document_constant = _document_constant(expr)
        if fast is not None:
            self.fast_first = _child_first(child_tags) if child_tags else self.first
            self.fast_all = self.all

    def _evaluate(self, node: _Element, cache: dict | None) -> Any:
        if self.document_constant and _COMPLETE_DOCUMENTS:
            results = _COMPLETE_DOCUMENTS.get(node.getroottree().getroot())
            if results is not None:
                result = results.get(self, _MISSING)
                if result is _MISSING:
                    result = results[self] = self._evaluate_now(node, cache)
                return result
        return self._evaluate_now(node, cache)

    def _evaluate_now(self, node: _Element, cache: dict | None) -> Any:
        fast = self._fast
        if fast is not None:
            try:
                return fast(node, 1, 1, {} if cache is None else cache)
            except _NeedXPath:
                pass
        return self._xpath(node)

    def all(self, node: Any, cache: dict | None = None) -> list[Any]:
        if not isinstance(node, _Element):
            return []
        result = self._evaluate(node, cache)
        if isinstance(result, list):
            values = [_value(r) for r in result]
            return [v for v in values if v is not None and v != ""]
        if result == "" or result is None:
            return []
        return [_value(result)]

    def first(self, node: Any, cache: dict | None = None) -> Any:
        if not isinstance(node, _Element):
            return None
        result = self._evaluate(node, cache)
        if isinstance(result, list):
            for r in result:
                v = _value(r)
                if v is not None and v != "":
                    return v
            return None
        if result == "" or result is None:
            return None
        return _value(result)

    @property
    def compiled(self) -> bool:
        """True when this expression runs in Python (lxml only for the rare cases it must decide)."""
        return self._fast is not None

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
    except _Unsupported:
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


def compile_xpath(expr: str, namespaces: Mapping[str, str] | None = None, *, fast: bool = True) -> XPathExpr:
    """Compile ``expr`` for lxml, and for the Python evaluator when it is in the subset (``fast``)."""
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
    if not fast or not _pays_off(expr):
        return XPathExpr(expr, compiled)
    return XPathExpr(expr, compiled, compile_fast_xpath(expr, ns), _child_tags(expr, ns))


def _pays_off(expr: str) -> bool:
    """True for location paths and unions of them (no functions, operators or non-numeric predicates).

    Measured on the shipped specs: the closures beat lxml by 2-3x on paths
    (no evaluation context, the per-record child index), but an expression
    with several function calls costs about what lxml costs, so those stay
    with lxml until expressions are generated as inline Python source.
    """
    try:
        toks = _tokens(expr)
    except _Unsupported:
        return False
    for i, (kind, text) in enumerate(toks):
        if kind == "opname" or kind == "str":
            return False
        if kind == "op" and text in ("=", "!=", "<", "<=", ">", ">=", "+", "-", "(", "$"):
            return False
        if kind == "num" and not (0 < i < len(toks) - 1 and toks[i - 1] == ("op", "[") and toks[i + 1] == ("op", "]")):
            return False
    return True
