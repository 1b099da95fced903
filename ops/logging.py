"""Structured logging for the command line: the pipeline itself lives in :mod:`mashlink.config.logging`.

Why it moved: benchmarks (bench/) configure logs too, and bench may not import
ops (ops drives bench, not the reverse); config/ is the lowest layer both use.
The names stay importable here because many ops commands and tests import them
from ``mashlink.ops.logging``.
"""

from __future__ import annotations

from ..config.logging import configure_logging

__all__ = ["configure_logging"]
