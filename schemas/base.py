"""Base class and version of the canonical safeguarding schema.

The schema is versioned as a whole: every envelope carries
``SCHEMA_VERSION`` and a consumer that does not know a version dead-letters
the message instead of guessing. Models forbid unknown fields so that a typo
in a mapping or a newer sender's extra field is an error, not silent loss.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

SCHEMA_VERSION = "1.0"
SUPPORTED_SCHEMA_VERSIONS: frozenset[str] = frozenset({"1.0"})


class CanonicalModel(BaseModel):
    """Strict-ish base: unknown fields are errors, strings are trimmed."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        populate_by_name=True,
        use_enum_values=False,
        validate_default=True,
    )
