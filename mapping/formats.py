"""Format registry: a format name -> (reader, default spec).

``mashlink translate FORMAT`` looks formats up here. Built-in formats are
``json`` and ``csv`` (generic case-system exports). Connector packages add
theirs either by calling ``FormatRegistry.register`` or, without touching
this package, through the ``mashlink.formats`` entry point group: each entry
point names a callable ``register(registry: FormatRegistry) -> None``.
A registry is built per call (no module-level state).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from .readers import Reader, read_csv, read_hl7v2, read_json, read_xml

ENTRY_POINT_GROUP = "mashlink.formats"


def mappings_dir() -> Path:
    """``config/mappings`` of the installed package (default specs live here)."""
    from .. import config

    return Path(config.__file__).parent / "mappings"


@dataclass(frozen=True)
class FormatEntry:
    name: str
    reader: Reader
    spec_path: Path
    description: str = ""


class FormatRegistry:
    """Name -> FormatEntry; duplicate names are refused unless ``replace=True``."""

    def __init__(self) -> None:
        self._entries: dict[str, FormatEntry] = {}

    def register(self, name: str, reader: Reader, spec_path: str | Path, description: str = "",
                 *, replace: bool = False) -> FormatEntry:
        if name in self._entries and not replace:
            raise ValueError(f"format {name!r} is already registered")
        entry = FormatEntry(name, reader, Path(spec_path), description)
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> FormatEntry:
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"unknown format {name!r}; known: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries


#: Readers by path language, for specs given with --spec and no registered format.
READERS_BY_LANGUAGE: dict[str, Reader] = {
    "json": read_json,
    "fhir": read_json,
    "csv": read_csv,
    "xml": read_xml,
    "hl7v2": read_hl7v2,
}


def default_registry(*, load_entry_points: bool = True) -> FormatRegistry:
    """The built-in formats plus any registered by installed packages."""
    registry = FormatRegistry()
    base = mappings_dir()
    registry.register("json", read_json, base / "generic-json.yaml", "Generic JSON case-system export")
    registry.register("csv", read_csv, base / "generic-csv.yaml", "Generic CSV case-system export")
    if load_entry_points:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            ep.load()(registry)
    return registry
