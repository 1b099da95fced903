"""Generate one straight-line Python function per spec: the fast path of ``translate_dict``.

The compiler's rule objects (closures walked per rule) are the reference
interpreter: they are easy to read, and they produce the precise errors
(field, rule, native path, spec line, item). Walking them costs a few
microseconds per rule, which for a 50-rule spec is more than parsing the
record. This module turns the same rule objects into Python source: one
function with local variables, plain-key JSON and CSV lookups inlined,
transforms and code tables bound as locals. It is compiled once, when the
spec loads.

The generated function never reports errors. Whenever the interpreter would
record an issue (a required value missing, a transform or code table
failing, ``on_error: issue``) or anything unexpected raises, it gives up on
that record and returns ``None``; ``CompiledMapping`` then re-runs the record
through the interpreter, which produces exactly the error it always did. A
good record therefore costs one fast pass; a bad one costs both passes, and
error messages cannot drift between the two paths.

The one case the fast path handles itself is a ``required`` value missing
inside an object rule: the interpreter forgets such an issue when the whole
object turns out to be absent, so the fast path keeps a pending flag per
object and gives up only when the object is kept.

Specs where a rule writes *through* a value written by another rule (e.g.
``person.ethnicity`` from a native object, then ``person.ethnicity.code``)
get no fast path: the write could modify the native record or a spec
constant, and a re-run after giving up would then see different input.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from . import transforms as transforms_module
from . import scalars as scalars_module
from .scalars import structure_of
from .targets import APPEND, TargetStep

FastTranslate = Callable[[Any], "dict[str, Any] | None"]

#: Argument-less str -> str transforms written inline (``{}`` is the str
#: operand), keyed by their factory so a replaced factory is never inlined.
#: Each maps "" to "", which lets a chain of them be fused (see transforms()).
#: tests/mapping/test_mapping_codegen.py checks each against its factory.
INLINE_TRANSFORMS: dict[Any, str] = {
    transforms_module.trim: "{}.strip()",
    transforms_module.upper: "{}.upper()",
    transforms_module.lower: "{}.lower()",
    transforms_module.collapse_spaces: "' '.join({}.split())",
    transforms_module.digits: "_NON_DIGITS.sub('', {})",
}

_MISS = object()
_NON_DIGITS = re.compile(r"\D")  # the pattern of transforms.digits


def _first_not_none(values: list[Any]) -> Any:
    for value in values:
        if value is not None:
            return value
    return None


def _each(fn: Callable[[Any], Any], values: list[Any]) -> list[Any]:
    """Same as the interpreter's per-value application: list results flatten, empties drop."""
    out: list[Any] = []
    for v in values:
        r = fn(v)
        if type(r) is list:
            out.extend(r)
        elif r is not None and r != "":
            out.append(r)
    return out


class _Scope:
    """Where generated statements run: which node they read and what a failure does.

    ``found``/``pending`` name the locals of the innermost object rule without
    ``for_each`` (None at top level and inside for_each items, where a
    required failure always rejects the record, so the fast path gives up).
    """

    __slots__ = ("node", "parent", "found", "pending")

    def __init__(self, node: str, parent: str, found: str | None, pending: str | None):
        self.node = node
        self.parent = parent
        self.found = found
        self.pending = pending

    def fail_required(self) -> str:
        return f"{self.pending} = True" if self.pending else "return None"


class _Generator:
    def __init__(self, language: str):
        self.language = language
        self.lines: list[str] = []
        self.names: dict[str, Any] = {"_MISS": _MISS, "_first_not_none": _first_not_none, "_each": _each,
                                      "_NON_DIGITS": _NON_DIGITS}
        self.counter = 0

    # --- helpers --------------------------------------------------------------

    def uid(self) -> int:
        self.counter += 1
        return self.counter

    def bind(self, value: Any, prefix: str) -> str:
        name = f"{prefix}{self.uid()}"
        self.names[name] = value
        return name

    def emit(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    # --- native paths -----------------------------------------------------------

    def first(self, path: Any, base: str, target: str, ind: int) -> None:
        """``target = path.first(base)``, inlined for plain JSON keys and CSV columns."""
        keys = getattr(path, "keys", None) if self.language in ("json", "fhir") else None
        if keys:
            fallback = self.bind(path.first, "F")
            # Same walk as _StepsPath.first: dicts all the way -> the value (first
            # non-None element of a list); None on the way -> None; anything
            # else -> the general path.
            def walk(rest: Sequence[str], at: int) -> None:
                self.emit(at, f"if type({target}) is dict:")
                self.emit(at + 1, f"{target} = {target}.get({rest[0]!r})")
                if len(rest) > 1:
                    self.emit(at + 1, f"if {target} is not None:")
                    walk(rest[1:], at + 2)
                else:
                    self.emit(at + 1, f"if type({target}) is list:")
                    self.emit(at + 2, f"{target} = _first_not_none({target})")
                self.emit(at, "else:")
                self.emit(at + 1, f"{target} = {fallback}({base})")

            self.emit(ind, f"{target} = {base}")
            walk(keys, ind)
            return
        if self.language == "csv" and type(path).__name__ == "CsvColumn":
            if path.column is None:
                self.emit(ind, f"{target} = {base}")
                return
            self.emit(ind, f"{target} = {base}.get({path.column!r}) if type({base}) is dict else None")
            self.emit(ind, f"if {target} == '':")
            self.emit(ind + 1, f"{target} = None")
            return
        self.emit(ind, f"{target} = {self.bind(path.first, 'F')}({base})")

    def all(self, path: Any, base: str, target: str, ind: int) -> None:
        """``target = path.all(base)``."""
        if self.language == "csv" and type(path).__name__ == "CsvColumn":
            self.first(path, base, target, ind)
            self.emit(ind, f"{target} = [] if {target} is None else [{target}]")
            return
        self.emit(ind, f"{target} = {self.bind(path.all, 'A')}({base})")

    # --- target setters ---------------------------------------------------------

    def set(self, steps: Sequence[TargetStep], parent: str, value: str, ind: int) -> None:
        """Write ``value`` at ``steps`` under ``parent``; the same container rules as ``compile_setter``."""
        *head, last = steps
        node = parent
        for step in head:
            if step.index is None:
                self.emit(ind, f"_c = {node}.get({step.key!r})")
                self.emit(ind, "if _c is None:")
                self.emit(ind + 1, f"_c = {node}[{step.key!r}] = {{}}")
                self.emit(ind, "_n = _c")
            else:
                self.emit(ind, f"_l = {node}.get({step.key!r})")
                self.emit(ind, "if _l is None:")
                self.emit(ind + 1, f"_l = {node}[{step.key!r}] = []")
                self.emit(ind, f"while len(_l) <= {step.index}:")
                self.emit(ind + 1, "_l.append({})")
                self.emit(ind, f"_n = _l[{step.index}]")
            node = "_n"
        key = last.key
        if last.index is None:
            self.emit(ind, f"{node}[{key!r}] = {value}")
        elif last.index == APPEND:
            self.emit(ind, f"_l = {node}.get({key!r})")
            self.emit(ind, "if _l is None:")
            self.emit(ind + 1, f"{node}[{key!r}] = [{value}]")
            self.emit(ind, "else:")
            self.emit(ind + 1, f"_l.append({value})")
        else:
            i = last.index
            self.emit(ind, f"_l = {node}.get({key!r})")
            self.emit(ind, "if _l is None:")
            self.emit(ind + 1, f"_l = {node}[{key!r}] = []")
            self.emit(ind, f"while len(_l) <= {i}:")
            self.emit(ind + 1, "_l.append({})")
            self.emit(ind, f"if isinstance({value}, dict) and isinstance(_l[{i}], dict):")
            self.emit(ind + 1, f"_l[{i}].update({value})")
            self.emit(ind, "else:")
            self.emit(ind + 1, f"_l[{i}] = {value}")

    def get_copy(self, steps: Sequence[TargetStep], target: str, ind: int) -> None:
        """``target = get_at(out, steps)`` inlined (copy rules read the record being built)."""
        self.emit(ind, f"{target} = out")
        for step in steps:
            self.emit(ind, f"if isinstance({target}, dict):")
            self.emit(ind + 1, f"{target} = {target}.get({step.key!r})")
            if step.index is not None:
                if step.index == APPEND:
                    pick = f"{target}[-1]"
                else:
                    pick = f"({target}[{step.index}] if {step.index} < len({target}) else None)"
                self.emit(ind + 1, f"if not isinstance({target}, list) or not {target}:")
                self.emit(ind + 2, f"{target} = None")
                self.emit(ind + 1, "else:")
                self.emit(ind + 2, f"{target} = {pick}")
            self.emit(ind, "else:")
            self.emit(ind + 1, f"{target} = None")

    # --- rules ------------------------------------------------------------------

    def rules(self, rules: Sequence[Any], scope: _Scope, ind: int) -> None:
        for rule in rules:
            self.emit(ind, f"# {rule.target} (spec line {rule.line})")
            if hasattr(rule, "rules"):
                self.object_rule(rule, scope, ind)
            else:
                self.value_rule(rule, scope, ind)

    def value_rule(self, rule: Any, scope: _Scope, ind: int) -> None:
        steps = rule.target_steps
        if rule.has_const:
            self.set(steps, scope.parent, self.bind(rule.const, "K"), ind)
            return
        if rule.on_error == "issue":
            fail_required = "return None"
        else:
            fail_required = scope.fail_required()
        mark_found = f"{scope.found} = True" if scope.found else None
        if rule.copy_steps is not None:
            self.get_copy(rule.copy_steps, "v", ind)
        else:
            base = "record" if rule.from_record else scope.node
            if rule.multi:
                self.emit(ind, "v = []")
                for path in rule.paths:
                    self.first(path, base, "x", ind)
                    self.emit(ind, "if x is not None and x != '':")
                    self.emit(ind + 1, "v.append(x)")
                self.emit(ind, "if not v:")
                self.emit(ind + 1, "v = None")
            elif rule.want_all:
                self.all(rule.paths[0], base, "v", ind)
                self.emit(ind, "if not v:")
                self.emit(ind + 1, "v = None")
            else:
                self.first(rule.paths[0], base, "v", ind)
            if getattr(rule, "scalar", False):
                # structure (object, element with children, segment) for a single value: the interpreter
                # reports it (rule "structure"); never str() of it
                self.emit(ind, "if v is not None and v.__class__ is not str and _structure_of(v) is not None:")
                self.emit(ind + 1, "return None")
            if mark_found or rule.steps:
                self.emit(ind, "if v is not None and v != '':")
                if mark_found:
                    self.emit(ind + 1, mark_found)
                self.transforms(rule, ind + 1)
        self.emit(ind, "if v is None or v == '' or v == []:")
        if rule.has_default:
            self.set(steps, scope.parent, self.bind(rule.default, "D"), ind + 1)
        elif rule.required:
            self.emit(ind + 1, fail_required)
        else:
            self.emit(ind + 1, "pass")
        self.emit(ind, "else:")
        ind += 1
        if rule.code is None:
            self.set(steps, scope.parent, "v", ind)
            return
        index = self.bind(rule.code._index, "C")
        key = "str({0}).strip()" if rule.code.case_sensitive else "str({0}).strip().upper()"
        attr = "value" if rule.code_field == "value" else "label"

        def unknown(at: int) -> None:
            if rule.has_default:
                self.set(steps, scope.parent, self.bind(rule.default, "D"), at)
                if mark_found:
                    self.emit(at, mark_found)
            else:
                self.emit(at, "return None")

        self.emit(ind, "if type(v) is list:")
        self.emit(ind + 1, "m = []")
        self.emit(ind + 1, "for x in v:")
        self.emit(ind + 2, f"e = {index}.get({key.format('x')})")
        self.emit(ind + 2, "if e is None:")
        self.emit(ind + 3, "m = _MISS")
        self.emit(ind + 3, "break")
        self.emit(ind + 2, f"m.append(e.{attr})")
        self.emit(ind + 1, "if m is _MISS:")
        unknown(ind + 2)
        self.emit(ind + 1, "else:")
        self.set(steps, scope.parent, "m", ind + 2)
        self.emit(ind, "else:")
        self.emit(ind + 1, f"e = {index}.get({key.format('v')})")
        self.emit(ind + 1, "if e is None:")
        unknown(ind + 2)
        self.emit(ind + 1, "else:")
        self.emit(ind + 2, f"v = e.{attr}")
        self.set(steps, scope.parent, "v", ind + 2)

    def transforms(self, rule: Any, ind: int) -> None:
        """The transform chain on ``v`` (not None, not ""); stops when a transform gives None."""
        kinds = getattr(rule, "step_kinds", ()) or (None,) * len(rule.steps)
        j = 0
        steps = rule.steps
        while j < len(steps):
            inner = ind
            if j:
                self.emit(ind, "if v is not None:")
                inner = ind + 1
            run = []
            while j < len(steps) and not steps[j][1] and kinds[j] in INLINE_TRANSFORMS:
                run.append(INLINE_TRANSFORMS[kinds[j]])
                j += 1
            if run:
                # str -> str transforms fused into one expression; on a list, the
                # interpreter's per-pass "drop empty results" only matters at the
                # end, because every one of them maps "" to "".
                def fused(arg: str) -> str:
                    expr = arg
                    for template in run:
                        expr = template.format(expr)
                    return expr
                self.emit(inner, "if type(v) is list:")
                self.emit(inner + 1, f"v = [r for r in ({fused('(x if isinstance(x, str) else str(x))')} "
                                     "for x in v) if r != '']")
                self.emit(inner, "else:")
                self.emit(inner + 1, f"v = {fused('(v if isinstance(v, str) else str(v))')}")
                continue
            fn, whole = steps[j]
            name = self.bind(fn, "T")
            if whole:
                self.emit(inner, f"v = {name}(v)")
            else:
                self.emit(inner, f"v = {name}(v) if type(v) is not list else _each({name}, v)")
            j += 1

    def object_rule(self, rule: Any, scope: _Scope, ind: int) -> None:
        uid = self.uid()
        obj = f"o{uid}"
        if rule.for_each is None:
            found, pending = f"f{uid}", f"p{uid}"
            self.emit(ind, f"{obj} = {{}}")
            self.emit(ind, f"{found} = False")
            self.emit(ind, f"{pending} = False")
            self.rules(rule.rules, _Scope(scope.node, obj, found, pending), ind)
            self.emit(ind, f"if {found}:")
            self.emit(ind + 1, f"if {pending}:")
            self.emit(ind + 2, "return None")
            self.set(rule.target_steps, scope.parent, obj, ind + 1)
            if scope.found:
                self.emit(ind + 1, f"{scope.found} = True")
            if rule.required:
                self.emit(ind, "else:")
                self.emit(ind + 1, scope.fail_required())
            return
        items, element = f"i{uid}", f"e{uid}"
        base = "record" if rule.from_record else scope.node
        self.all(rule.for_each, base, items, ind)
        self.emit(ind, f"if len({items}) > _scalars.MAX_ITEMS_PER_RULE:")
        self.emit(ind + 1, "return None")  # the interpreter reports the limit
        if rule.split is not None:
            sep = self.bind(rule.split, "S")
            self.emit(ind, f"{items} = [p.strip() for x in {items} for p in str(x).split({sep}) if p.strip()]")
        self.emit(ind, f"if not {items}:")
        self.emit(ind + 1, scope.fail_required() if rule.required else "pass")
        self.emit(ind, "else:")
        if scope.found:
            self.emit(ind + 1, f"{scope.found} = True")
        self.emit(ind + 1, f"for {element} in {items}:")
        self.emit(ind + 2, f"{obj} = {{}}")
        self.rules(rule.rules, _Scope(element, obj, None, None), ind + 2)
        self.set(rule.target_steps, scope.parent, obj, ind + 2)


def _targets(rules: Sequence[Any]) -> list[tuple[str, bool]]:
    """Every rule's full target, and whether the rule writes a value (not an object it builds)."""
    out: list[tuple[str, bool]] = []
    for rule in rules:
        if hasattr(rule, "rules"):
            out.append((rule.target, False))
            out.extend(_targets(rule.rules))
        else:
            out.append((rule.target, True))
    return out


def writes_through_values(rules: Sequence[Any]) -> bool:
    """True when some rule writes *inside* a value another rule wrote (native, copied, const or default).

    Such a write changes an object the mapping does not own: a native record
    (which a re-run after the fast path gives up would then read changed), or a
    spec constant shared by every record. Those specs keep the interpreter.
    """
    targets = _targets(rules)
    values = [t for t, is_value in targets if is_value]
    for written, _ in targets:
        for value_target in values:
            if written.startswith(value_target + ".") or written.startswith(value_target + "["):
                return True
    return False


def generate_source(rules: Sequence[Any], language: str) -> tuple[str, dict[str, Any]]:
    """Python source of ``_translate(record)`` and the names it needs bound."""
    gen = _Generator(language)
    gen.names["_structure_of"] = structure_of
    gen.names["_scalars"] = scalars_module
    gen.emit(0, "def _translate(record):")
    gen.emit(1, "out = {}")
    gen.rules(rules, _Scope("record", "out", None, None), 1)
    gen.emit(1, "return out")
    return "\n".join(gen.lines) + "\n", gen.names


def compile_fast(rules: Sequence[Any], language: str, name: str) -> FastTranslate | None:
    """The fast translator for ``rules``, or None when this spec must always use the interpreter.

    The returned function gives the record's plain dict, or None when the
    record needs the interpreter (an error to report, or anything unusual).
    """
    if writes_through_values(rules):
        return None
    source, names = generate_source(rules, language)
    namespace: dict[str, Any] = dict(names)
    exec(compile(source, f"<mapping {name}>", "exec"), namespace)  # noqa: S102 - our own generated source
    inner = namespace["_translate"]

    def fast(record: Any) -> dict[str, Any] | None:
        try:
            return inner(record)
        except Exception:  # noqa: BLE001 - any surprise: the interpreter decides, and reports
            return None

    fast.__doc__ = f"Generated translator for spec {name}"
    fast.source = source  # type: ignore[attr-defined]
    return fast
