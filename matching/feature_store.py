"""Storing the scorer's ``PersonFeatures`` in the match index as compact JSON.

Why: a search scores hundreds of candidates, and re-validating each stored
``Person`` and normalising its names again would cost several times the
scoring itself. The index computes features once, at load, and keeps them
beside the canonical person. JSON (not pickle) because an index file is
data, and reading data must never run code.

The layout is derived from the ``PersonFeatures`` dataclass itself; the index
records it, and when the scorer's features change shape an older index falls
back to computing features from the stored person (slower, never wrong).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import date
from typing import Any

from mashlink.matching.comparisons import PersonFeatures
from mashlink.schemas.codes import Sex

_FIELDS = tuple(dataclasses.fields(PersonFeatures))


def _decoder(annotation: str) -> Callable[[Any], Any] | None:
    text = str(annotation).replace(" ", "")
    if text.startswith("frozenset[tuple"):
        return lambda v: frozenset(tuple(x) for x in v)
    if text.startswith("frozenset"):
        return frozenset
    if text in ("date|None", "date"):
        return lambda v: None if v is None else date.fromisoformat(v)
    if text in ("Sex|None", "Sex"):
        return lambda v: None if v is None else Sex(v)
    if text in ("str|None", "str", "bool", "int", "int|None", "bool|None"):
        return None  # stored as is
    raise TypeError(f"PersonFeatures.{annotation}: no JSON form for this type in the index")


try:
    _DECODERS: tuple[Callable[[Any], Any] | None, ...] | None = tuple(_decoder(str(f.type)) for f in _FIELDS)
except TypeError:  # a new feature type: store nothing, compute features from the person instead
    _DECODERS = None

#: The stored layout: field names and types, in order. An index written with another layout is not decoded.
FEATURES_LAYOUT = json.dumps([[f.name, str(f.type)] for f in _FIELDS], separators=(",", ":"))


def _plain(value: Any) -> Any:
    if isinstance(value, frozenset):
        return sorted(list(v) if isinstance(v, tuple) else v for v in value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Sex):
        return value.value
    return value


def encode_features(f: PersonFeatures) -> str | None:
    """JSON text of the features (None when this layout cannot be stored)."""
    if _DECODERS is None:
        return None
    return json.dumps([_plain(getattr(f, field.name)) for field in _FIELDS], separators=(",", ":"))


def decode_features(text: str | None) -> PersonFeatures | None:
    """Features back from ``encode_features``; None when there is nothing usable stored."""
    if text is None or _DECODERS is None:
        return None
    values = json.loads(text)
    if len(values) != len(_DECODERS):
        return None
    return PersonFeatures(*(v if d is None else d(v) for d, v in zip(_DECODERS, values)))
