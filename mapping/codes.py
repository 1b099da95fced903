"""Code tables: native code -> canonical value, from YAML or CSV files.

Agencies code the same fact differently (sex is 0/1/2/9 in the CIN census,
M/F in CTF, male/female in FHIR). Tables live under
``config/mappings/codes/`` so council IT can add a local code by editing a
file. A code no table knows is an error naming the table and the code,
never a silent guess.

YAML table::

    table: sex-cin              # optional; defaults to the file name
    description: CIN census gender codes
    case_sensitive: false       # default false
    codes:
      "1": male                 # code: value
      "2": {value: female, label: Female}

CSV table: header ``code,value[,label]``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import SpecError
from .yamlmarks import MarkedDict, load_marked_yaml


@dataclass(frozen=True)
class CodeEntry:
    value: Any
    label: str | None = None


@dataclass
class CodeTable:
    name: str
    entries: dict[str, CodeEntry]
    case_sensitive: bool = False
    description: str = ""
    file: str = ""
    lines: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._index = {self._key(k): v for k, v in self.entries.items()}

    def _key(self, code: Any) -> str:
        text = str(code).strip()
        return text if self.case_sensitive else text.upper()

    def lookup(self, code: Any) -> CodeEntry | None:
        return self._index.get(self._key(code))


def _entry(raw: Any) -> CodeEntry:
    if isinstance(raw, dict):
        if "value" not in raw:
            raise ValueError("a code entry given as a mapping needs 'value'")
        extra = set(raw) - {"value", "label"}
        if extra:
            raise ValueError(f"unknown keys in code entry: {sorted(extra)}")
        return CodeEntry(raw["value"], raw.get("label"))
    return CodeEntry(raw)


def load_table(path: Path) -> CodeTable:
    """Load one YAML or CSV code table; errors name the file and line."""
    name = path.stem
    if path.suffix.lower() == ".csv":
        entries: dict[str, CodeEntry] = {}
        lines: dict[str, int] = {}
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"code", "value"} <= set(reader.fieldnames):
                raise SpecError(str(path), 1, "code table", "CSV code tables need a header with code,value[,label]")
            for row in reader:
                code = (row.get("code") or "").strip()
                if not code:
                    raise SpecError(str(path), reader.line_num, "code table", "empty code")
                if code in entries:
                    raise SpecError(str(path), reader.line_num, "code table", f"duplicate code {code!r}")
                entries[code] = CodeEntry((row.get("value") or "").strip(), (row.get("label") or "").strip() or None)
                lines[code] = reader.line_num
        return CodeTable(name, entries, file=str(path), lines=lines)
    try:
        data = load_marked_yaml(path)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise SpecError(str(path), mark.line + 1 if mark else None, "code table", f"bad YAML: {exc}") from None
    if not isinstance(data, MarkedDict) or not isinstance(data.get("codes"), dict):
        raise SpecError(str(path), getattr(data, "line", 1), "code table", "a YAML code table needs a 'codes:' mapping")
    extra = set(data) - {"table", "description", "case_sensitive", "codes", "source"}
    if extra:
        raise SpecError(str(path), data.key_lines.get(sorted(extra)[0]), "code table", f"unknown keys {sorted(extra)}")
    codes: MarkedDict = data["codes"]
    entries = {}
    for code, raw in codes.items():
        try:
            entries[str(code)] = _entry(raw)
        except ValueError as exc:
            raise SpecError(str(path), codes.key_lines.get(str(code)), f"code {code!r}", str(exc)) from None
    lines = {str(k): v for k, v in codes.key_lines.items()}
    table = CodeTable(
        str(data.get("table") or name),
        entries,
        case_sensitive=bool(data.get("case_sensitive", False)),
        description=str(data.get("description", "")),
        file=str(path),
        lines=lines,
    )
    if len(table._index) != len(entries):
        raise SpecError(str(path), codes.line, "code table", "two codes differ only by case; set case_sensitive: true")
    return table


def load_tables(directories: list[Path]) -> dict[str, CodeTable]:
    """Every table in the directories; a later directory overrides an earlier one by name."""
    tables: dict[str, CodeTable] = {}
    for directory in directories:
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            if path.suffix.lower() in (".yaml", ".yml", ".csv"):
                table = load_table(path)
                tables[table.name] = table
    return tables


def default_codes_dir() -> Path:
    """``config/mappings/codes`` of the installed package."""
    from .. import config

    return Path(config.__file__).parent / "mappings" / "codes"
