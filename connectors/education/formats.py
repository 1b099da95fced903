"""Register the ``ctf`` format for ``mashlink translate ctf FILE...`` (entry point ``mashlink.formats``)."""

from __future__ import annotations

from pathlib import Path

from .ctf_reader import read_ctf
from ...mapping.formats import FormatRegistry, mappings_dir


def ctf_spec_path() -> Path:
    """The shipped CTF mapping spec (``config/mappings/ctf.yaml``)."""
    return mappings_dir() / "ctf.yaml"


def register(registry: FormatRegistry) -> None:
    registry.register("ctf", read_ctf, ctf_spec_path(),
                      "DfE Common Transfer File XML (pupils: attendance, exclusions, SEN, FSM, moves)")
