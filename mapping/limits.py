"""Per-input limits read from the environment (documented in mapping/README.md, "Limits per input")."""

from __future__ import annotations

import os


def env_int(name: str, default: int) -> int:
    """A positive integer setting ``name``; ``default`` when it is unset, not a number, or not positive."""
    try:
        value = int(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default
