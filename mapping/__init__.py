"""The mapping engine: declarative YAML specs compiled into native -> canonical translators.

Public API::

    from . import load_spec, default_registry, translate_files
    mapping = load_spec("config/mappings/generic-json.yaml")
    record = mapping.translate(native_dict, Position("export.json", 1))
"""

from .batch import BatchResult, translate_files
from .compiler import CompiledMapping, ExplainRow, load_spec
from .errors import (
    InputError,
    Issue,
    MappingEngineError,
    Position,
    RecordError,
    SpecError,
    SpecErrors,
)
from .formats import FormatEntry, FormatRegistry, default_registry, mappings_dir
from .readers import Reader, RowProblem, read_csv, read_hl7v2, read_json, read_xml

__all__ = [
    "BatchResult", "translate_files", "CompiledMapping", "ExplainRow", "load_spec", "InputError",
    "Issue", "MappingEngineError", "Position", "RecordError", "SpecError", "SpecErrors", "FormatEntry",
    "FormatRegistry", "default_registry", "mappings_dir", "Reader", "RowProblem", "read_csv",
    "read_hl7v2", "read_json", "read_xml",
]
