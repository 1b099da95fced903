"""Readers turn a native file into (record, position) pairs for a compiled mapping.

A reader knows the file format (JSON, CSV, XML, HL7 v2), never the mapping:
the spec's ``records:`` path (via ``CompiledMapping.select_records``) picks
the repeating records, and the reader attaches positions people can find in
the file (record number, JSON path, CSV line, XML line). A file that cannot
be parsed raises ``InputError`` with its position; a single malformed row
yields ``RowProblem`` so the batch can report it and continue.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from . import safe_json
from .errors import InputError, Position
from .limits import env_int


#: Largest XML file ``read_xml`` parses whole (``MASHLINK_XML_MAX_BYTES``; the tree costs a few times the file).
MAX_XML_BYTES = env_int("MASHLINK_XML_MAX_BYTES", 256 * 1024 * 1024)


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A record the reader could not even split into fields (reported, not mapped)."""

    message: str


class MappingLike(Protocol):
    language: str
    source_paths: list[tuple[str, bool, int | None]]
    file: str

    def select_records(self, document: Any) -> Iterator[tuple[Any, str]]: ...

    @property
    def spec(self) -> Any: ...


class Reader(Protocol):
    """Reads one file; yields (native record or RowProblem, Position). Raises InputError."""

    def __call__(self, path: Path, mapping: MappingLike, warn: Any = None) -> Iterator[tuple[Any, Position]]: ...


def _read_text(path: Path, encoding: str) -> str:
    try:
        return path.read_text(encoding=encoding)
    except FileNotFoundError:
        raise InputError(str(path), "file not found") from None
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"not valid {encoding} text (byte offset {exc.start})") from None
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror}") from None


def read_json(path: Path, mapping: MappingLike, warn: Any = None) -> Iterator[tuple[Any, Position]]:
    """A JSON document (object or array); records chosen by the spec's ``records:`` path."""
    encoding = mapping.spec.reader.get("encoding", "utf-8-sig")
    text = _read_text(path, encoding)
    document = safe_json.loads(text, str(path))  # bounded depth, numbers, size: InputError, never a crash
    for number, (record, where) in enumerate(mapping.select_records(document), start=1):
        yield record, Position(str(path), number, path=where)


def read_csv(path: Path, mapping: MappingLike, warn: Any = None) -> Iterator[tuple[Any, Position]]:
    """A CSV file with a header row; each row is a record (dict of column -> text)."""
    options = mapping.spec.reader
    encoding = options.get("encoding", "utf-8-sig")
    delimiter = options.get("delimiter", ",")
    text = _read_text(path, encoding)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(str(path), "empty file: no header row") from None
    except csv.Error as exc:
        raise InputError(str(path), f"bad CSV header: {exc}", 1) from None
    header = [h.strip() for h in header]
    columns = set(header)
    missing_required = []
    for expr, required, line in mapping.source_paths:
        column = expr.lstrip("^").strip()
        if column == "$" or column in columns:
            continue
        if required:
            missing_required.append(f"{column!r} (spec line {line})")
        elif warn is not None:
            warn(f"{path}: column {column!r} named by {mapping.file} line {line} is not in the header")
    if missing_required:
        raise InputError(str(path), "required columns missing from the header: " + ", ".join(missing_required), 1)
    width = len(header)
    number = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            number += 1
            raise InputError(str(path), f"bad CSV: {exc}", reader.line_num) from None
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        number += 1
        position = Position(str(path), number, line=reader.line_num)
        if len(row) != width:
            yield RowProblem(f"row has {len(row)} fields, the header has {width}"), position
            continue
        yield dict(zip(header, row)), position


def read_xml(path: Path, mapping: MappingLike, warn: Any = None) -> Iterator[tuple[Any, Position]]:
    """An XML document parsed safely (no entities, no network); positions carry source lines."""
    from lxml import etree

    from .paths.xpath import complete_document, forget_document

    try:
        size = path.stat().st_size
    except OSError:
        raise InputError(str(path), "file not found or unreadable") from None
    if size > MAX_XML_BYTES:
        raise InputError(str(path), f"XML input too large: {size} bytes, the limit is {MAX_XML_BYTES} "
                                    "(MASHLINK_XML_MAX_BYTES)")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=True)
    try:
        root = etree.parse(str(path), parser).getroot()
    except OSError:
        raise InputError(str(path), "file not found or unreadable") from None
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (None, None)
        raise InputError(str(path), f"not well-formed XML: {exc.msg}", line, column) from None
    complete_document(root)  # parsed whole, never changed: document-level paths are evaluated once per file
    try:
        for number, (record, where) in enumerate(mapping.select_records(root), start=1):
            line = getattr(record, "sourceline", None)
            yield record, Position(str(path), number, line=line, path=where)
    finally:
        forget_document(root)


#: HL7 v2 batch protocol segments: file and batch headers and trailers around the messages.
BATCH_ENVELOPE = frozenset({"FHS", "BHS", "BTS", "FTS"})


def hl7_messages(path: Path, text: str) -> list[tuple[int, str]]:
    """Split a file of ER7 HL7 v2 messages (CR, LF or CRLF) into (first line number, message).

    Every message starts with MSH; anything else before the first MSH is an InputError. The batch
    envelope of HL7 batch files (FHS / BHS headers, BTS / FTS trailers: how many feeds and
    extracts arrive) is not part of any message and is skipped.
    """
    lines = text.replace("\r\n", "\r").replace("\n", "\r").split("\r")
    chunks: list[tuple[int, list[str]]] = []
    for number, line in enumerate(lines, start=1):
        if line[:3] in BATCH_ENVELOPE and (len(line) == 3 or not line[3].isalnum()):
            continue  # FHS|..., BTS|1: the envelope, not a segment of a message
        if line.startswith("MSH"):
            chunks.append((number, [line]))
        elif line.strip():
            if not chunks:
                raise InputError(str(path), "HL7 v2 data before the first MSH segment", number)
            chunks[-1][1].append(line)
    return [(line, "\r".join(segments)) for line, segments in chunks]


def read_hl7v2(path: Path, mapping: MappingLike, warn: Any = None) -> Iterator[tuple[Any, Position]]:
    """A file of ER7 HL7 v2 messages (each starts with MSH); one message is one record."""
    from .paths.hl7 import split_message

    for number, (line, message) in enumerate(hl7_messages(path, _read_text(path, "utf-8")), start=1):
        position = Position(str(path), number, line=line)
        try:
            yield split_message(message), position
        except ValueError as exc:
            yield RowProblem(str(exc)), position
