"""Configuration errors that a council IT team can act on without a traceback.

A mistyped key or an unknown agency kind must stop the process at start-up,
and the message must say *where* (file and line, or environment variable),
*which key* (``agencies[2].kind``) and *which rule* was broken, listing every
problem at once so a deployment is not fixed one error per restart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

#: Top-level keys whose offending values must never be echoed (they are secrets).
SECRET_KEYS: frozenset[str] = frozenset({"signing_keys", "signing"})


@dataclass(frozen=True)
class ConfigIssue:
    """One broken rule at one key path.

    ``path`` uses the notation an operator would type to find it in YAML:
    ``agencies[2].kind``, ``sharing_policies.education-synth.sensitivities``.
    ``origin`` says where the value came from: ``mashlink.yaml:41``,
    ``environment MASHLINK_BROKER_URL`` or ``override``; empty when unknown.
    """

    path: str
    rule: str
    origin: str = ""

    def __str__(self) -> str:
        where = f" ({self.origin})" if self.origin else ""
        key = self.path or "<top level>"
        return f"{key}{where}: {self.rule}"


class ConfigError(Exception):
    """Invalid configuration: every issue, with file, key path and rule, human readable."""

    def __init__(self, issues: Sequence[ConfigIssue], file: Path | str | None = None) -> None:
        self.issues: tuple[ConfigIssue, ...] = tuple(issues)
        self.file: Path | None = Path(file) if file is not None else None
        super().__init__(self._render())

    def _render(self) -> str:
        count = len(self.issues)
        source = f" in {self.file}" if self.file is not None else ""
        noun = "error" if count == 1 else "errors"
        lines = [f"invalid mashlink configuration{source} ({count} {noun}):"]
        lines.extend(f"  - {issue}" for issue in self.issues)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self._render()


def format_loc(loc: Iterable[Any]) -> str:
    """Render a pydantic error location as ``agencies[2].kind``.

    Dictionary-key errors (pydantic's ``[key]`` marker) read as ``... (key)``;
    union-branch tags that pydantic inserts are dropped because they name
    Python types, not configuration keys.
    """
    out = ""
    key_suffix = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            key_suffix = " (key)"
        elif isinstance(part, str) and _is_type_tag(part):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out + key_suffix


def _is_type_tag(part: str) -> bool:
    return any(marker in part for marker in ("[", "function-", "lax-", "strict-")) or part in {
        "str", "int", "float", "bool", "date", "time",
    }


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def issues_from_validation_error(
    exc: ValidationError,
    *,
    origin_for: Any = None,
) -> list[ConfigIssue]:
    """Turn a pydantic ValidationError into ConfigIssues.

    ``origin_for(loc) -> str`` names where the value at ``loc`` came from.
    The rejected input is quoted (shortened) unless it sits under a secret key.
    """
    issues: list[ConfigIssue] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err.get("loc", ()))
        rule = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        top = loc[0] if loc else None
        if err.get("type") not in ("missing", "extra_forbidden", "config_rule") and top not in SECRET_KEYS:
            value = err.get("input")
            if not isinstance(value, (Mapping, list, tuple, set, frozenset)) and value is not None:
                rule = f"{rule} (got {_short(value)})"
        if err.get("type") == "extra_forbidden":
            rule = "unknown key (not a mashlink setting; check the spelling)"
        origin = origin_for(loc) if origin_for is not None else ""
        issues.append(ConfigIssue(path=format_loc(loc), rule=rule, origin=origin))
    return issues
