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

from .comparisons import PersonFeatures
from ..schemas.codes import Sex

_FIELDS = tuple(dataclasses.fields(PersonFeatures))


def _encoder(annotation: str) -> Callable[[Any], Any] | None:
    text = str(annotation).replace(" ", "")
    if text.startswith("frozenset[tuple"):
        return lambda v: [list(x) for x in v]
    if text.startswith("frozenset"):
        return list
    if text in ("date|None", "date"):
        return lambda v: None if v is None else v.isoformat()
    if text in ("Sex|None", "Sex"):
        return lambda v: None if v is None else v.value
    return None


_EMPTY: frozenset[Any] = frozenset()
_SEXES = {s.value: s for s in Sex}


def _decoder(annotation: str) -> Callable[[Any], Any] | None:
    text = str(annotation).replace(" ", "")
    if text.startswith("frozenset[tuple"):
        return lambda v: frozenset([tuple(x) for x in v]) if v else _EMPTY
    if text.startswith("frozenset"):
        return lambda v: frozenset(v) if v else _EMPTY
    if text in ("date|None", "date"):
        return lambda v: None if v is None else date.fromisoformat(v)
    if text in ("Sex|None", "Sex"):
        return lambda v: None if v is None else _SEXES[v]
    if text in ("str|None", "str", "bool", "int", "int|None", "bool|None"):
        return None  # stored as is
    raise TypeError(f"PersonFeatures.{annotation}: no JSON form for this type in the index")


try:
    _DECODERS: tuple[Callable[[Any], Any] | None, ...] | None = tuple(_decoder(str(f.type)) for f in _FIELDS)
except TypeError:  # a new feature type: store nothing, compute features from the person instead
    _DECODERS = None
_ENCODERS = tuple((f.name, _encoder(str(f.type))) for f in _FIELDS)
_DECODING = tuple((i, d) for i, d in enumerate(_DECODERS or ()) if d is not None)
_loads = json.JSONDecoder().decode
_dumps = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode

#: The stored layout: field names and types, in order. An index written with another layout is not decoded.
FEATURES_LAYOUT = json.dumps([[f.name, str(f.type)] for f in _FIELDS], separators=(",", ":"))


def encode_features(f: PersonFeatures) -> str | None:
    """JSON text of the features (None when this layout cannot be stored)."""
    if _DECODERS is None:
        return None
    return _dumps([getattr(f, name) if enc is None else enc(getattr(f, name)) for name, enc in _ENCODERS])


def decode_features(text: str | None) -> PersonFeatures | None:
    """Features back from ``encode_features``; None when there is nothing usable stored."""
    if text is None or _DECODERS is None:
        return None
    values = _loads(text)
    if len(values) != len(_DECODERS):
        return None
    for i, decode in _DECODING:
        values[i] = decode(values[i])
    return PersonFeatures(*values)
