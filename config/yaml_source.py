"""The YAML configuration file as a pydantic-settings source, with line numbers.

pydantic-settings' own ``YamlConfigSettingsSource`` reads the file; this
subclass adds what operators need when the file is wrong: a missing file, a
syntax error or a non-mapping document becomes a ``ConfigError`` naming the
file and line, and the source keeps a map from key path to line so that
validation errors can point at ``mashlink.yaml:41``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic_settings import BaseSettings, YamlConfigSettingsSource

from .errors import ConfigError, ConfigIssue

KeyPath = tuple[str | int, ...]


def yaml_line_map(text: str) -> dict[KeyPath, int]:
    """Map every key path in a YAML document to its 1-based line number.

    Built from the composed node tree (not the loaded data) because loaded
    Python objects no longer know where they came from.
    """
    lines: dict[KeyPath, int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines

    def walk(node: yaml.Node, path: KeyPath) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key: str | int = key_node.value
                child = (*path, str(key))
                lines[child] = key_node.start_mark.line + 1
                walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                child = (*path, index)
                lines[child] = item.start_mark.line + 1
                walk(item, child)

    if root is not None:
        walk(root, ())
    return lines


def line_for(lines: dict[KeyPath, int], loc: tuple[Any, ...]) -> int | None:
    """The line of the deepest key of ``loc`` that exists in the file."""
    path: list[str | int] = []
    best: int | None = None
    for part in loc:
        if part == "[key]":
            break
        path.append(part if isinstance(part, int) else str(part))
        found = lines.get(tuple(path))
        if found is None and not isinstance(part, int):
            continue
        if found is not None:
            best = found
    return best


class MashlinkYamlSource(YamlConfigSettingsSource):
    """Reads one YAML file; errors in the file itself raise ``ConfigError``."""

    def __init__(self, settings_cls: type[BaseSettings], yaml_file: Path) -> None:
        self.path = Path(yaml_file)
        self.lines: dict[KeyPath, int] = {}
        if not self.path.is_file():
            raise ConfigError(
                [ConfigIssue("", "configuration file not found (set MASHLINK_CONFIG or --file)")],
                file=self.path,
            )
        super().__init__(settings_cls, yaml_file=self.path, yaml_file_encoding="utf-8")
        # Record which file was used, so `config show` and error messages can say so.
        self.init_kwargs.setdefault("config_file", str(self.path))

    def _read_file(self, file_path: Path) -> dict[str, Any]:  # type: ignore[override]
        try:
            text = Path(file_path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError([ConfigIssue("", f"cannot read file: {exc}")], file=file_path) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            origin = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigError([ConfigIssue("", f"YAML syntax error: {problem}", origin)], file=file_path) from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(
                [ConfigIssue("", f"the document must be a mapping of settings, not a {type(data).__name__}")],
                file=file_path,
            )
        bad_keys = [k for k in data if not isinstance(k, str)]
        if bad_keys:
            raise ConfigError(
                [ConfigIssue(str(k), "top-level keys must be setting names (strings)") for k in bad_keys],
                file=file_path,
            )
        self.lines = yaml_line_map(text)
        return data
