"""``mashlink translate hl7v2 FILE`` and ``mashlink translate fhir FILE``: readers and registration.

The mapping engine's format registry discovers connector formats through the
``mashlink.formats`` entry-point group; ``register`` is that entry point. The
specs live in ``config/mappings/hl7v2-adt.yaml`` and ``config/mappings/fhir-r4.yaml``
so a trust adapts codes, extensions and paths in YAML.

* hl7v2: a file of ER7 messages (CR, LF or CRLF separators), one record per
  message; split with the one HL7 parser and prepared exactly as the live feed
  prepares a message (``hl7_mapping.prepare``), so the spec sees the same input. Size caps:
  a file over ``MAX_HL7_FILE_BYTES`` (64 MiB; environment variable
  ``MASHLINK_HL7_MAX_FILE_BYTES``) is an input error before it is read; a
  message over ``MAX_HL7_MESSAGE_BYTES`` (1 MiB, the MLLP listener's default
  ``max_frame_bytes``; ``MASHLINK_HL7_MAX_MESSAGE_BYTES``) is rejected on its
  own and the rest of the file is translated. Cost and memory grow linearly
  with the input (empty fields share one object; see ``FastMessage.to_path_message``).
* fhir: one resource or a Bundle (JSON), validated with the R4B models first
  (an invalid document is an input error naming each element path); one
  record per Patient, carrying the Patient and the resources that reference it,
  grouped by ``fhir_mapping.native_records`` exactly as on the live connector
  (every Flag classified into ``flags_child_protection``, ``flags_safeguarding``
  or ``flags_unclassified``, so the spec carries every Flag, whatever its code system).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .fhir_mapping import native_records
from .fhir_translate import default_mapping_options, options_from_flag_table
from .fhir_validate import FhirValidationError, validate_resource
from ...mapping.paths.hl7_er7 import FastMessage, Hl7ParseError
from .hl7_mapping import fill_visit_numbers as _fill_visit_numbers, prepare  # noqa: F401 (fuzz oracle)
from ...mapping.errors import InputError, MappingEngineError, Position
from ...mapping.limits import env_int
from ...mapping.readers import RowProblem, hl7_messages

def _text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError:
        raise InputError(str(path), "file not found or unreadable") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


MAX_HL7_FILE_BYTES = 64 * 1024 * 1024
MAX_HL7_MESSAGE_BYTES = 1024 * 1024


def read_hl7v2_fast(path: Path, mapping: Any, warn: Any = None) -> Iterator[tuple[Any, Position]]:
    """One record per MSH-started message, pre-split for the HL7 path language (size caps above)."""
    max_file = env_int("MASHLINK_HL7_MAX_FILE_BYTES", MAX_HL7_FILE_BYTES)
    max_message = env_int("MASHLINK_HL7_MAX_MESSAGE_BYTES", MAX_HL7_MESSAGE_BYTES)
    try:
        size = path.stat().st_size
    except OSError:
        size = 0  # _text reports the unreadable file
    if size > max_file:
        raise InputError(str(path), f"HL7 v2 file is {size} bytes, over the {max_file} byte limit "
                                    "(MASHLINK_HL7_MAX_FILE_BYTES); split it into smaller files")
    for number, (line, message) in enumerate(hl7_messages(path, _text(path)), start=1):
        position = Position(str(path), number, line=line)
        if len(message) > max_message:
            yield RowProblem(f"HL7 v2 message is {len(message)} characters, over the {max_message} limit "
                             "(MASHLINK_HL7_MAX_MESSAGE_BYTES)"), position
            continue
        try:
            msg = FastMessage.parse(message)
            yield prepare(msg), position
        except Hl7ParseError as exc:
            yield RowProblem(str(exc)), position


def fhir_records(document: dict[str, Any]) -> list[dict[str, Any]]:
    """One native record per Patient, grouped exactly as the live connector groups them (``native_records``)."""
    return native_records(document, flag_options())


def flag_options() -> Any:
    """Flag classification for ``translate fhir``: the shipped table, or ``MASHLINK_FHIR_FLAG_CLASS_TABLE``.

    A trust whose alerts use its own code system points the variable at a copy of
    ``config/mappings/codes/fhir-flag-class.yaml`` with its codes added (the live
    connector takes the same lists in its ``mapping`` options).
    """
    table = os.environ.get("MASHLINK_FHIR_FLAG_CLASS_TABLE", "").strip()
    if not table:
        return default_mapping_options()
    try:
        return options_from_flag_table(Path(table))
    except (OSError, ValueError, MappingEngineError) as exc:
        raise InputError(table, f"MASHLINK_FHIR_FLAG_CLASS_TABLE: {exc}") from None


def read_fhir(path: Path, mapping: Any, warn: Any = None) -> Iterator[tuple[Any, Position]]:
    from ...mapping.safe_json import loads as safe_loads  # bounded depth/numbers/size, InputError

    try:
        document = safe_loads(_text(path), str(path))
    except json.JSONDecodeError as exc:
        raise InputError(str(path), f"not valid JSON: {exc.msg}", exc.lineno, exc.colno) from None
    try:
        validate_resource(document)
    except FhirValidationError as exc:
        raise InputError(str(path), str(exc)) from None
    for number, record in enumerate(fhir_records(document), start=1):
        yield record, Position(str(path), number, path=f"Patient/{record['patient'].get('id', '?')}")


def register(registry: Any) -> None:
    """Entry point for ``mashlink.formats``: adds the hl7v2 and fhir formats."""
    from ...mapping.formats import mappings_dir

    base = mappings_dir()
    registry.register("hl7v2", read_hl7v2_fast, base / "hl7v2-adt.yaml",
                      "HL7 v2 ADT messages (ER7; CR, LF or CRLF)", replace=True)
    registry.register("fhir", read_fhir, base / "fhir-r4.yaml",
                      "FHIR R4 (UK Core) resource or Bundle, JSON", replace=True)
