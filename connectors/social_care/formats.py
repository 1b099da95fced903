"""Entry points of the ``mashlink.formats`` group: ``cin`` and ``ssda903``."""

from __future__ import annotations

from .cin import CinReader
from .ssda903 import Ssda903Reader
from ...mapping.formats import FormatRegistry, mappings_dir


def register_cin(registry: FormatRegistry) -> None:
    registry.register("cin", CinReader(), mappings_dir() / "cin.yaml",
                      "DfE Children in Need census XML (streamed one Child at a time)")


def register_ssda903(registry: FormatRegistry) -> None:
    registry.register("ssda903", Ssda903Reader(), mappings_dir() / "ssda903.yaml",
                      "SSDA903 looked-after children return: XML, or the CSV set (header, episodes, missing, reviews)")
