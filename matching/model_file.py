"""Trained weights for a connector that holds no index of its own (a health trust's FHIR API or HL7 engine).

Why: police, education and social care train EM weights on their own match
index; a trust is searched live, so there is nothing local to train on. The
trust (or council IT, on a health extract) builds and trains an index with
``mashlink match index build`` / ``mashlink match train`` and names that file
in the agency's ``matching.model``; the connector scores every patient the
trust returns with those weights and term frequencies. A JSON ``MatchModel``
(``MatchModel.model_dump_json()``) is accepted too, without term frequencies.

Errors are :class:`ModelFileError` with a rule an operator can act on; the
caller adds the configuration key (``agencies[i].matching.model``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from .index import MatchIndex, NotAnIndex
from .model import MatchModel
from .term_frequency import TermFrequencies

_SQLITE_MAGIC = b"SQLite format 3\x00"


class ModelFileError(ValueError):
    """The configured model file is missing, unreadable, untrained or not a model."""


@dataclass(frozen=True)
class TrainedWeights:
    """What a scorer needs from training: the model and (from an index) its term frequencies."""

    model: MatchModel
    term_frequencies: TermFrequencies | None
    source: Path


def _from_index(path: Path) -> TrainedWeights:
    try:
        index = MatchIndex.open(path)
    except NotAnIndex as exc:
        raise ModelFileError(f"not a match index of this version ({exc})") from None
    with index:
        if not index.trained:
            raise ModelFileError(f"{path} holds no trained weights: build it without --no-train "
                                 "(mashlink match index build ... --db PATH)")
        try:
            return TrainedWeights(model=index.model, term_frequencies=index.term_frequencies, source=path)
        except (ValidationError, ValueError, KeyError) as exc:
            raise ModelFileError(f"{path}: the stored weights are unreadable ({type(exc).__name__})") from None


def _from_json(path: Path, data: bytes) -> TrainedWeights:
    try:
        model = MatchModel.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "(document)"
        raise ModelFileError(f"{path} is not a MatchModel: {where}: {first.get('msg')}") from None
    return TrainedWeights(model=model, term_frequencies=None, source=path)


def load_trained_weights(path: Path) -> TrainedWeights:
    """The weights in ``path``: a trained match index (SQLite) or a ``MatchModel`` JSON file."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"no such file: {path}")
    try:
        with path.open("rb") as handle:
            head = handle.read(len(_SQLITE_MAGIC))
        if head == _SQLITE_MAGIC:
            return _from_index(path)
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelFileError(f"{path} is neither a match index nor a MatchModel JSON file") from None
    return _from_json(path, data)
