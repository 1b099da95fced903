"""The structure of a mapping spec file, validated with pydantic.

This is the grammar council IT edits. It is checked in two passes: this
module checks the *shape* (keys, types, one way of getting a value per rule);
``compiler`` then checks the *meaning* (paths parse, transforms and code
tables exist, targets exist in the target model) and compiles.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Language = Literal["json", "fhir", "xml", "hl7v2", "csv"]
TransformSpec = str | dict[str, Any]


class CodeRef(BaseModel):
    """``code: {table: NAME, field: value|label}``; ``code: NAME`` is short for field=value."""

    model_config = ConfigDict(extra="forbid")
    table: str
    field: Literal["value", "label"] = "value"


class RuleSpec(BaseModel):
    """One rule: where a value comes from, how it is cleaned, and where it goes."""

    model_config = ConfigDict(extra="forbid")

    target: str = Field(description="Canonical field path, e.g. person.names[0].family or findings[]")
    source: str | list[str] | None = Field(default=None, description="Native path(s); '^' prefix = record root")
    const: Any = None
    copy_: str | None = Field(default=None, alias="copy", description="Canonical path already written")
    transforms: list[TransformSpec] = Field(default_factory=list)
    code: str | CodeRef | None = None
    default: Any = None
    required: bool = False
    on_error: Literal["reject", "issue"] = "reject"
    for_each: str | None = None
    split: str | None = None
    rules: list["RuleSpec"] | None = None
    note: str | None = Field(default=None, description="Free text for information-governance readers")

    @model_validator(mode="after")
    def _one_way(self) -> "RuleSpec":
        given = [k for k in ("source", "const", "copy_", "for_each") if k in self.model_fields_set]
        if self.for_each is not None:
            if not self.rules:
                raise ValueError("for_each needs sub-rules under 'rules:'")
            if len(given) > 1:
                raise ValueError("for_each cannot be combined with source, const or copy")
        elif self.rules is not None:
            if given:
                raise ValueError("an object rule (rules: without for_each) takes no source, const or copy")
            if not self.rules:
                raise ValueError("'rules:' is empty")
        else:
            if len(given) != 1:
                raise ValueError("a rule needs exactly one of: source, const, copy, for_each, rules")
        if self.split is not None and self.for_each is None:
            raise ValueError("'split' applies to for_each only (use the split transform on values)")
        if (self.rules is not None) and (self.transforms or self.code is not None):
            raise ValueError("transforms and code apply to value rules, not to object/for_each rules")
        if "const" in self.model_fields_set and (self.transforms or self.code is not None):
            raise ValueError("a const rule takes no transforms or code table")
        return self


class SpecFile(BaseModel):
    """A whole mapping spec."""

    model_config = ConfigDict(extra="forbid")

    spec: str = Field(description="Name of this spec, e.g. generic-json")
    version: str | int = 1
    description: str = ""
    target: str = Field(description="Canonical model name, e.g. AgencyRecord")
    language: Language
    namespaces: dict[str, str] = Field(default_factory=dict)
    records: str | None = Field(default=None, description="Path to the repeating records")
    code_dirs: list[str] = Field(default_factory=list, description="Extra code table folders, relative to the spec")
    code_tables: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Inline code tables")
    reader: dict[str, Any] = Field(default_factory=dict, description="Options for the format's reader")
    rules: list[RuleSpec] = Field(min_length=1)
