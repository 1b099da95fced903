"""Compile a spec into a ``CompiledMapping``: closures built once, run per record.

The closures are the one way a record is translated. A generated Python
function per spec used to run first (``codegen``); measured in one bench run
with the paths taken in turns, it was 1.02-1.46x faster than these closures
end to end (JSON, CSV, CIN, CTF), below the 1.5x a fast path must earn, and it
was removed with its tests (issue 17).

Loading does all the slow and error-prone work (YAML, pydantic checks of the
spec, path parsing, target checks against the model, code table checks), and
collects every problem with its file and line. Translating a record then only
walks prebuilt closures into a plain dict and validates it once with the
target model, so every guarantee of the canonical model still holds.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .codes import CodeTable, CodeEntry, default_codes_dir, load_tables
from .errors import (
    Issue,
    PathSyntaxError,
    Position,
    RecordError,
    SpecError,
    SpecErrors,
    TransformError,
)
from .paths import CompiledPath, compile_path
from .spec import CodeRef, RuleSpec, SpecFile
from .targets import (
    APPEND,
    ResolvedTarget,
    TargetStep,
    compile_setter,
    get_at,
    normalise,
    parse_target,
    resolve_target,
    value_adapter,
)
from .targets import _unwrap
from . import scalars
from .scalars import STRUCTURE_MESSAGE, TOO_MANY_ITEMS_MESSAGE, structure_of
from .transforms import LIST_TRANSFORMS, TRANSFORMS, describe
from .yamlmarks import MarkedDict, MarkedList, line_of, load_marked_yaml


def _structured_target(resolved: ResolvedTarget) -> bool:
    """True when the rule's target is a model (or list of models): a native object may be its value."""
    annotation = _unwrap(resolved.annotation)
    if typing.get_origin(annotation) in (list, tuple):
        args = typing.get_args(annotation)
        annotation = _unwrap(args[0]) if args else Any
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def default_models() -> Mapping[str, type[BaseModel]]:
    """Target models a spec may name: the canonical top-level models."""
    from ..schemas.registry import TOP_LEVEL_MODELS

    return TOP_LEVEL_MODELS


@dataclass(frozen=True)
class ExplainRow:
    """One line of ``--explain``: which native field goes where, and how."""

    source: str
    target: str
    transforms: str
    code_table: str
    flags: str
    note: str
    line: int | None


class _Ctx:
    """Per-record state shared by the rules (kept tiny: it is made per record)."""

    __slots__ = ("record", "root", "issues", "issue_out")

    def __init__(self, record: Any, root: dict[str, Any]):
        self.record = record
        self.root = root
        self.issues: list[Issue] = []
        self.issue_out: list[dict[str, str]] = []


def _each(fn: Callable[[Any], Any], values: list[Any]) -> list[Any]:
    """Apply a per-value transform to each value; list results (split) are flattened."""
    out: list[Any] = []
    for v in values:
        r = fn(v)
        if type(r) is list:
            out.extend(r)
        elif r is not None and r != "":
            out.append(r)
    return out


class _ValueRule:
    __slots__ = ("target", "setter", "paths", "from_record", "const", "has_const", "copy_steps",
                 "steps", "want_all", "multi", "code", "code_field", "default", "has_default", "required",
                 "on_error", "label", "line", "source_text", "run", "target_steps",
                 "scalar")

    def specialise(self) -> None:
        """Pick the cheapest runner for this rule: most rules are constants or plain copies."""
        setter = self.setter
        if self.has_const:
            const = self.const

            def run_const(node: Any, ctx: _Ctx, out: dict[str, Any], item: str | None) -> bool:
                setter(out, const)
                return False
            self.run = run_const
        elif (len(self.paths) == 1 and not self.steps and self.code is None and not self.multi and not self.want_all
              and not self.required and not self.has_default and self.copy_steps is None and not self.from_record):
            first = self.paths[0].first
            scalar = self.scalar

            def run_plain(node: Any, ctx: _Ctx, out: dict[str, Any], item: str | None) -> bool:
                value = first(node)
                if value is None or value == "" or value == []:
                    return False
                if scalar and value.__class__ is not str:
                    kind = structure_of(value)
                    if kind is not None:
                        self._fail(ctx, item, "structure", STRUCTURE_MESSAGE.format(kind=kind))
                        return True
                setter(out, value)
                return True
            self.run = run_plain
        else:
            self.run = self.run_general

    def run_general(self, node: Any, ctx: _Ctx, out: dict[str, Any], item: str | None) -> bool:
        """Write this rule's value into ``out``; True when a native value was found."""
        found = False
        if self.has_const:
            value = self.const
        elif self.copy_steps is not None:
            value = get_at(ctx.root, self.copy_steps)
        else:
            base = ctx.record if self.from_record else node
            if self.multi:
                value = [v for v in (p.first(base) for p in self.paths) if v is not None and v != ""]
                if not value:
                    value = None
            elif self.want_all:
                value = self.paths[0].all(base) or None
            else:
                value = self.paths[0].first(base)
            if value is not None and value != "":
                found = True
                if self.scalar and value.__class__ is not str:
                    kind = structure_of(value)
                    if kind is not None:
                        return self._fail(ctx, item, "structure", STRUCTURE_MESSAGE.format(kind=kind))
                if self.steps:
                    try:
                        for fn, whole in self.steps:
                            if value is None:
                                break
                            if whole or type(value) is not list:
                                value = fn(value)
                            else:
                                value = _each(fn, value)
                    except TransformError as exc:
                        return self._fail(ctx, item, "transform", str(exc))
        if value is None or value == "" or value == []:
            if self.has_default:
                out_value = self.default
                self.setter(out, out_value)
                return found
            if self.required:
                self._fail(ctx, item, "required", "no value in the native record (required: true)")
            return found
        code = self.code
        if code is not None and not self.has_const:
            if type(value) is list:
                mapped = []
                for v in value:
                    entry = code.lookup(v)
                    if entry is None:
                        return self._unknown_code(ctx, item, v, out)
                    mapped.append(entry.value if self.code_field == "value" else entry.label)
                value = mapped
            else:
                entry = code.lookup(value)
                if entry is None:
                    return self._unknown_code(ctx, item, value, out)
                value = entry.value if self.code_field == "value" else entry.label
        self.setter(out, value)
        return found

    def _unknown_code(self, ctx: _Ctx, item: str | None, value: Any, out: dict[str, Any]) -> bool:
        if self.has_default:
            self.setter(out, self.default)
            return True
        shown = str(value)
        shown = shown if len(shown) <= 16 else shown[:16] + "..."
        self._fail(ctx, item, f"code table {self.code.name}", f"unknown code {shown!r}")
        return True

    def _fail(self, ctx: _Ctx, item: str | None, rule: str, message: str) -> bool:
        if self.on_error == "issue":
            ctx.issue_out.append({"field": self.target, "rule": rule, "detail": message})
            return True
        ctx.issues.append(Issue(self.target, rule, message, self.source_text, self.line, item))
        return True


class _ObjectRule:
    """Builds one object from sub-rules; omitted when none of them found a native value."""

    __slots__ = ("target", "setter", "rules", "required", "label", "line", "for_each", "from_record", "split",
                 "target_steps")

    def run(self, node: Any, ctx: _Ctx, out: dict[str, Any], item: str | None) -> bool:
        if self.for_each is None:
            obj: dict[str, Any] = {}
            issues_before = len(ctx.issues)
            found = False
            for rule in self.rules:
                found = rule.run(node, ctx, obj, item) or found
            if found:
                self.setter(out, obj)
            else:
                del ctx.issues[issues_before:]  # required-inside-absent-object is not an error
                if self.required:
                    ctx.issues.append(Issue(self.target, "required", "no value in the native record", None,
                                            self.line, item))
            return found
        base = ctx.record if self.from_record else node
        items = self.for_each.all(base)
        if self.split is not None:
            kind = structure_of(items)
            if kind is not None:
                ctx.issues.append(Issue(self.target, "structure", STRUCTURE_MESSAGE.format(kind=kind) + " (split)",
                                        self.for_each.expr, self.line, item))
                return True
            items = [p.strip() for v in items for p in str(v).split(self.split) if p.strip()]
        if len(items) > scalars.MAX_ITEMS_PER_RULE:
            ctx.issues.append(Issue(self.target, "too many items", TOO_MANY_ITEMS_MESSAGE.format(
                count=len(items), limit=scalars.MAX_ITEMS_PER_RULE), self.for_each.expr, self.line, item))
            return True
        if not items and self.required:
            ctx.issues.append(Issue(self.target, "required", "no items in the native record",
                                    self.for_each.expr, self.line, item))
        for i, element in enumerate(items):
            obj = {}
            sub_item = f"{self.for_each.expr}[{i}]" if item is None else f"{item}/{self.for_each.expr}[{i}]"
            for rule in self.rules:
                rule.run(element, ctx, obj, sub_item)
            self.setter(out, obj)
        return bool(items)


_Rule = _ValueRule | _ObjectRule


class CompiledMapping:
    """A loaded, checked, compiled spec: call ``translate`` per native record."""

    def __init__(self, spec: SpecFile, file: str, model: type[BaseModel], rules: list[_Rule],
                 records_path: CompiledPath | None, explain_rows: list[ExplainRow],
                 rule_index: dict[str, tuple[str | None, int | None]], source_paths: list[tuple[str, bool, int | None]],
                 has_issues: bool):
        self.spec = spec
        self.file = file
        self.model = model
        self.rules = rules
        self.records_path = records_path
        self.explain_rows = explain_rows
        self._rule_index = rule_index
        self.source_paths = source_paths
        self._has_issues = has_issues
        self._record_id_steps = parse_target("source.record_id")
        self._validate = model.model_validate

    @property
    def name(self) -> str:
        return self.spec.spec

    @property
    def language(self) -> str:
        return self.spec.language

    def select_records(self, document: Any) -> Iterator[tuple[Any, str]]:
        """The repeating records of a parsed document, with a path for each."""
        if self.records_path is None:
            if isinstance(document, list):
                for i, item in enumerate(document):
                    yield item, f"$[{i}]"
            else:
                yield document, "$"
            return
        for i, item in enumerate(self.records_path.all(document)):
            yield item, f"{self.records_path.expr}[{i}]"

    def translate_dict(self, native: Any, position: Position) -> dict[str, Any]:
        """Run the rules into a plain dict (not yet validated); raises RecordError naming field, rule and line."""
        return self._interpret(native, position)

    def _interpret(self, native: Any, position: Position) -> dict[str, Any]:
        """Walk the compiled rules, collecting every issue (the one translation path)."""
        out: dict[str, Any] = {}
        ctx = _Ctx(native, out)
        for rule in self.rules:
            rule.run(native, ctx, out, None)
        if ctx.issue_out:
            out.setdefault("issues", []).extend(ctx.issue_out)
        if ctx.issues:
            raise RecordError(self._position(out, position), ctx.issues, self.file)
        return out

    def translate(self, native: Any, position: Position) -> BaseModel:
        """Translate one native record into the target model; raises RecordError."""
        out = self.translate_dict(native, position)
        try:
            return self._validate(out)
        except ValidationError as exc:
            raise RecordError(self._position(out, position), self._issues_from(exc), self.file) from None

    def _position(self, out: dict[str, Any], position: Position) -> Position:
        record_id = get_at(out, self._record_id_steps)
        return position.with_record_id(str(record_id)) if isinstance(record_id, (str, int)) else position

    def _issues_from(self, exc: ValidationError) -> list[Issue]:
        issues = []
        for err in exc.errors(include_url=False, include_input=False, include_context=False):
            loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
            key = normalise(loc)
            source, line = None, None
            probe = key
            while probe:
                if probe in self._rule_index:
                    source, line = self._rule_index[probe]
                    break
                probe = probe.rpartition(".")[0]
            issues.append(Issue(loc or self.model.__name__, f"model {err['type']}", err["msg"], source, line))
        return issues

    def explain(self) -> list[ExplainRow]:
        return list(self.explain_rows)


# --- loading ---------------------------------------------------------------------------


class _Compiler:
    def __init__(self, file: str, raw: Any, spec: SpecFile, model: type[BaseModel],
                 tables: dict[str, CodeTable]):
        self.file = file
        self.raw = raw
        self.spec = spec
        self.model = model
        self.tables = tables
        self.errors: list[SpecError] = []
        self.explain: list[ExplainRow] = []
        self.rule_index: dict[str, tuple[str | None, int | None]] = {}
        self.source_paths: list[tuple[str, bool, int | None]] = []
        self.has_issues = True
        try:
            resolve_target(model, parse_target("issues[]"))
        except ValueError:
            self.has_issues = False

    def err(self, loc: tuple[Any, ...], rule: str, message: str) -> None:
        self.errors.append(SpecError(self.file, line_of(self.raw, loc), rule, message))

    def path(self, expr: str, loc: tuple[Any, ...], label: str) -> tuple[CompiledPath | None, bool]:
        from_record = expr.startswith("^")
        text = expr[1:] if from_record else expr
        try:
            return compile_path(self.spec.language, text, self.spec.namespaces), from_record
        except PathSyntaxError as exc:
            self.err(loc, label, f"bad {self.spec.language} path {expr!r}: {exc}")
            return None, from_record

    def rules(self, rules: list[RuleSpec], loc: tuple[Any, ...], prefix: list[TargetStep],
              src_prefix: str, in_item: bool) -> list[_Rule]:
        compiled: list[_Rule] = []
        for i, rule in enumerate(rules):
            rloc = (*loc, i)
            result = self.rule(rule, rloc, prefix, src_prefix, in_item)
            if result is not None:
                compiled.append(result)
        return compiled

    def rule(self, rule: RuleSpec, loc: tuple[Any, ...], prefix: list[TargetStep],
             src_prefix: str, in_item: bool) -> _Rule | None:
        label = f"rule {'.'.join(str(p) for p in loc)} (target {rule.target})"
        line = line_of(self.raw, loc)
        try:
            steps = parse_target(rule.target)
            full = [*prefix, *steps]
            resolved = resolve_target(self.model, full)
        except ValueError as exc:
            self.err((*loc, "target"), label, f"unknown target field: {exc}")
            return None
        full_text = ".".join(s.key + ("[]" if s.index == APPEND else f"[{s.index}]" if s.index is not None else "")
                             for s in full)
        if rule.on_error == "issue" and not self.has_issues:
            self.err((*loc, "on_error"), label, f"on_error: issue needs an 'issues' list in {self.model.__name__}")
        if rule.rules is not None:
            return self.object_rule(rule, loc, steps, full, full_text, resolved, label, line, src_prefix, in_item)
        return self.value_rule(rule, loc, steps, full_text, resolved, label, line, src_prefix)

    def object_rule(self, rule: RuleSpec, loc: tuple[Any, ...], steps: list[TargetStep], full: list[TargetStep],
                    full_text: str, resolved: ResolvedTarget, label: str, line: int | None,
                    src_prefix: str, in_item: bool) -> _ObjectRule | None:
        compiled = _ObjectRule()
        compiled.target = full_text
        compiled.required = rule.required
        compiled.label = label
        compiled.line = line
        compiled.split = rule.split
        compiled.for_each = None
        compiled.from_record = False
        sub_prefix = full
        if rule.for_each is not None:
            path, from_record = self.path(rule.for_each, (*loc, "for_each"), label)
            compiled.for_each = path
            compiled.from_record = from_record
            if steps[-1].index is None:
                if not resolved.is_list:
                    self.err((*loc, "target"), label, "for_each needs a list target ending in [] (e.g. findings[])")
                    return None
                steps = [*steps[:-1], TargetStep(steps[-1].key, APPEND)]
            sub_prefix = [*full[:-1], TargetStep(full[-1].key, APPEND)]
            src_prefix = f"{src_prefix}{rule.for_each}[*]/"
            self.source_paths.append((rule.for_each, rule.required, line))
            self.explain.append(ExplainRow(src_prefix.rstrip("/"), full_text, "", "", "for each", rule.note or "", line))
        self.rule_index.setdefault(normalise(full_text), (rule.for_each, line))
        compiled.rules = self.rules(rule.rules or [], (*loc, "rules"), sub_prefix, src_prefix,
                                    in_item or rule.for_each is not None)
        compiled.setter = compile_setter(steps)
        compiled.target_steps = tuple(steps)
        return compiled

    def value_rule(self, rule: RuleSpec, loc: tuple[Any, ...], steps: list[TargetStep], full_text: str,
                   resolved: ResolvedTarget, label: str, line: int | None, src_prefix: str) -> _ValueRule:
        compiled = _ValueRule()
        compiled.target = full_text
        compiled.label = label
        compiled.line = line
        compiled.setter = compile_setter(steps)
        compiled.target_steps = tuple(steps)
        compiled.has_const = "const" in rule.model_fields_set
        compiled.const = rule.const
        compiled.copy_steps = None
        compiled.paths = []
        compiled.from_record = False
        compiled.multi = isinstance(rule.source, list)
        compiled.want_all = resolved.is_list and not compiled.multi
        compiled.required = rule.required
        compiled.on_error = rule.on_error
        compiled.has_default = "default" in rule.model_fields_set
        compiled.default = rule.default
        compiled.source_text = None
        # A native structure is a value only where the target is a model (an object the spec fills in).
        compiled.scalar = not _structured_target(resolved)
        if rule.copy_ is not None:
            try:
                compiled.copy_steps = parse_target(rule.copy_)
                resolve_target(self.model, compiled.copy_steps)
            except ValueError as exc:
                self.err((*loc, "copy"), label, f"unknown copy field: {exc}")
        if rule.source is not None:
            sources = rule.source if isinstance(rule.source, list) else [rule.source]
            if not sources:
                self.err((*loc, "source"), label, "empty source list")
            froms = set()
            for j, expr in enumerate(sources):
                sloc = (*loc, "source", j) if compiled.multi else (*loc, "source")
                path, from_record = self.path(expr, sloc, label)
                froms.add(from_record)
                if path is not None:
                    compiled.paths.append(path)
                    self.source_paths.append((expr, rule.required, line))
            if len(froms) > 1:
                self.err((*loc, "source"), label, "all sources of one rule must be relative to the same node")
            compiled.from_record = froms == {True}
            compiled.source_text = ", ".join(sources)
        # transforms
        fns = []
        for j, tspec in enumerate(rule.transforms):
            tloc = (*loc, "transforms", j)
            if isinstance(tspec, dict):
                if len(tspec) != 1:
                    self.err(tloc, label, "a transform with options is a mapping with one key, e.g. {date: {...}}")
                    continue
                (tname, targs), = tspec.items()
            else:
                tname, targs = tspec, None
            factory = TRANSFORMS.get(tname)
            if factory is None:
                self.err(tloc, label, f"unknown transform {tname!r}; known: {', '.join(sorted(TRANSFORMS))}")
                continue
            try:
                fns.append((factory(targs), tname in LIST_TRANSFORMS))
            except ValueError as exc:
                self.err(tloc, label, f"transform {tname}: {exc}")
        compiled.steps = tuple(fns)
        # code table
        compiled.code = None
        compiled.code_field = "value"
        if rule.code is not None:
            ref = rule.code if isinstance(rule.code, CodeRef) else CodeRef(table=rule.code)
            table = self.tables.get(ref.table)
            if table is None:
                self.err((*loc, "code"), label,
                         f"unknown code table {ref.table!r}; known: {', '.join(sorted(self.tables)) or 'none'}")
            else:
                compiled.code = table
                compiled.code_field = ref.field
                self.check_table(table, ref.field, resolved, loc, label)
        # constants and defaults must be valid for the target
        adapter = value_adapter(resolved.annotation) if not resolved.free else None
        for key, present, value in (("const", compiled.has_const, rule.const),
                                    ("default", compiled.has_default, rule.default)):
            if present and adapter is not None and value is not None:
                try:
                    adapter.validate_python(value)
                except ValidationError as exc:
                    self.err((*loc, key), label, f"{key} is not valid for {full_text}: {exc.errors()[0]['msg']}")
        self.rule_index.setdefault(normalise(full_text), (compiled.source_text, line))
        flags = ", ".join(x for x in (
            "required" if rule.required else "",
            f"default={rule.default!r}" if compiled.has_default else "",
            "issue on error" if rule.on_error == "issue" else "",
        ) if x)
        code_text = "" if compiled.code is None else (
            compiled.code.name + ("" if compiled.code_field == "value" else f" ({compiled.code_field})"))
        if compiled.has_const:
            source = f"constant {rule.const!r}"
        elif rule.copy_ is not None:
            source = f"copy of {rule.copy_}"
        else:
            source = " + ".join(f"{src_prefix if not s.startswith('^') else ''}{s}" for s in
                                (rule.source if isinstance(rule.source, list) else [rule.source or ""]))
        self.explain.append(ExplainRow(source, full_text, ", ".join(describe(t) for t in rule.transforms),
                                       code_text, flags, rule.note or "", line))
        compiled.specialise()
        return compiled

    def check_table(self, table: CodeTable, field: str, resolved: ResolvedTarget, loc: tuple[Any, ...],
                    label: str) -> None:
        """Every value a table can produce must be valid for the target: caught at load, not per record."""
        if resolved.free:
            return
        annotation = resolved.annotation
        if resolved.is_list:
            import typing
            from .targets import _unwrap
            annotation = typing.get_args(_unwrap(annotation))[0]
        adapter = value_adapter(annotation)
        if adapter is None:
            return
        for code, entry in table.entries.items():
            value = entry.value if field == "value" else entry.label
            if value is None:
                self.err((*loc, "code"), label, f"code table {table.name} code {code!r} has no {field}")
                continue
            try:
                adapter.validate_python(value)
            except ValidationError as exc:
                self.errors.append(SpecError(
                    table.file, table.lines.get(code), f"code {code!r}",
                    f"value {value!r} is not valid for {label}: {exc.errors()[0]['msg']}"))


def _spec_errors_from_validation(file: str, raw: Any, exc: ValidationError) -> list[SpecError]:
    errors = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p in ("str", "CodeRef"))))
        label = ".".join(str(p) for p in loc) or "spec"
        msg = err["msg"]
        if err["type"] == "missing":
            msg = f"missing required key {loc[-1]!r}"
        elif err["type"] == "extra_forbidden":
            msg = f"unknown key {loc[-1]!r}"
        errors.append(SpecError(file, line_of(raw, loc), label, msg))
    # One problem can show as several union branches: keep one per line and label.
    seen: set[tuple[int | None, str]] = set()
    unique = []
    for e in errors:
        if (e.line, e.rule) not in seen:
            seen.add((e.line, e.rule))
            unique.append(e)
    return unique


def load_spec(path: str | Path, *, models: Mapping[str, type[BaseModel]] | None = None,
              code_dirs: list[Path] | None = None) -> CompiledMapping:
    """Load, check and compile a spec; raises ``SpecErrors`` listing every problem with file and line.

    ``models`` maps target names to models (default: the canonical top-level
    models); ``code_dirs`` replaces the default code table folders.
    """
    path = Path(path)
    file = str(path)
    try:
        raw = load_marked_yaml(path)
    except OSError as exc:
        raise SpecErrors([SpecError(file, None, "", f"cannot read spec: {exc.strerror}")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecErrors([SpecError(file, mark.line + 1 if mark else None, "", f"bad YAML: {problem}")]) from None
    if not isinstance(raw, MarkedDict):
        raise SpecErrors([SpecError(file, 1, "", "a spec is a YAML mapping with spec, target, language and rules")])
    try:
        spec = SpecFile.model_validate(raw)
    except ValidationError as exc:
        raise SpecErrors(_spec_errors_from_validation(file, raw, exc)) from None
    models = default_models() if models is None else models
    model = models.get(spec.target)
    if model is None:
        raise SpecErrors([SpecError(file, raw.key_lines.get("target"), "target",
                                    f"unknown target model {spec.target!r}; known: {', '.join(sorted(models))}")])
    dirs = [default_codes_dir()] if code_dirs is None else list(code_dirs)
    dirs += [(path.parent / d) for d in spec.code_dirs]
    try:
        tables = load_tables(dirs)
    except SpecError as exc:
        raise SpecErrors([exc]) from None
    for name, codes in spec.code_tables.items():
        codes_raw = raw["code_tables"][name]
        entries = {str(k): (CodeEntry(v["value"], v.get("label")) if isinstance(v, dict) else CodeEntry(v))
                   for k, v in codes.items()}
        tables[name] = CodeTable(name, entries, file=file,
                                 lines=dict(getattr(codes_raw, "key_lines", {})))
    compiler = _Compiler(file, raw, spec, model, tables)
    records_path = None
    if spec.records is not None:
        records_path, _ = compiler.path(spec.records, ("records",), "records")
    rules = compiler.rules(spec.rules, ("rules",), [], "", False)
    if compiler.errors:
        raise SpecErrors(compiler.errors)
    return CompiledMapping(spec, file, model, rules, records_path, compiler.explain, compiler.rule_index,
                           compiler.source_paths, compiler.has_issues)
