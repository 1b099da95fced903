"""The one declaration of agency kinds and connector kinds (``connector_kinds.yaml`` beside this file).

Why data, not code: connector names used to live in four tables (config
validation, the factory's builders, its options models, and the
``mashlink.formats`` entry points), which drifted. Config validation must know
every name without importing connectors (config sits below them), so the
declaration is YAML shipped in ``config/`` and checked here with pydantic;
``mashlink.connectors.registry`` turns its paths into builders.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..schemas.codes import AgencyKind

DECLARATION_FILE = Path(__file__).with_name("connector_kinds.yaml")

#: ``package.module:attribute``: where a builder, options model or format registration lives.
IMPORT_PATH = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"
_NAME = r"^[a-z][a-z0-9_]{0,31}$"

#: What a confirmed record releases about the other people on it (``connectors/answer_builder.py``):
#: ``none`` nobody else, ``minimal`` the people linked to the matched person as a minimal view,
#: ``full`` everyone on the matched person's own record in full.
LinkedPeople = Literal["none", "minimal", "full"]
#: Data minimisation: a connector kind that declares nothing releases linked people minimally.
DEFAULT_LINKED_PEOPLE: LinkedPeople = "minimal"
#: Release policies from least to most released (a stricter policy sorts first).
LINKED_PEOPLE_ORDER: tuple[LinkedPeople, ...] = ("none", "minimal", "full")


def stricter(a: LinkedPeople, b: LinkedPeople) -> LinkedPeople:
    """The policy of ``a`` and ``b`` that releases less."""
    return min(a, b, key=LINKED_PEOPLE_ORDER.index)


class _Declared(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgencyKindDeclaration(_Declared):
    """What mashlink knows about one agency kind beyond its channel."""

    starting_identifiers: tuple[str, ...] = Field(
        default=(), description="Identifiers a new agency's starting sharing policy sends (mashlink agency add)")
    simulator: str | None = Field(default=None, pattern=IMPORT_PATH,
                                  description="Builder of the kind's simulated system (--simulated); none: no simulator")
    reference: str | None = Field(default=None, pattern=IMPORT_PATH,
                                  description="ReferenceConnector class answering from that simulated system")
    linked_people: LinkedPeople = Field(
        default="full", description="The most a channel of this kind releases by default about the other people "
                                    "on a record: a connector kind's declaration is capped by it")
    linked_people_most: LinkedPeople = Field(
        default="full", description="The most an agency of this kind may release, even by options.linked_people "
                                    "(config check refuses more, naming the field)")
    release: str | None = Field(
        default=None, pattern=IMPORT_PATH,
        description="Findings filter every answer of this kind goes through, whatever its connector: "
                    "(findings, *, contact, agency_id) -> findings (police: handling codes, DND never leaves)")

    @model_validator(mode="after")
    def _reference_needs_simulator(self) -> "AgencyKindDeclaration":
        if (self.reference is None) != (self.simulator is None):
            raise ValueError("simulator and reference are declared together (a reference connector answers "
                             "from the simulated system), or neither")
        if stricter(self.linked_people, self.linked_people_most) != self.linked_people:
            raise ValueError(f"linked_people ({self.linked_people}) releases more than linked_people_most "
                             f"({self.linked_people_most}) allows")
        return self


class ConnectorKind(_Declared):
    """One connector kind: which agencies it serves and where its parts are."""

    name: str = Field(pattern=_NAME)
    description: str = Field(min_length=1, max_length=200)
    serves: frozenset[AgencyKind] = Field(description="Agency kinds it serves; 'any' in YAML for every kind")
    builder: str = Field(pattern=IMPORT_PATH, description="ConnectorContext -> BuiltConnector")
    options: str | None = Field(default=None, pattern=IMPORT_PATH,
                                description="Pydantic model of AgencyConfig.options, checked by config check")
    formats: str | None = Field(default=None, pattern=IMPORT_PATH,
                                description="register(FormatRegistry) adding its formats to mashlink translate")
    specs: tuple[str, ...] = Field(default=(), description="Packaged mapping specs (config/mappings) it runs")
    events: Literal["native", "fhir", "hl7v2"] = Field(
        description="How the agency is told of outcomes: native (web hook or drop folder), FHIR or HL7 v2")
    linked_people: LinkedPeople = Field(
        default=DEFAULT_LINKED_PEOPLE,
        description="Release policy: what a confirmed record releases about the other people on it "
                    "(none, minimal or full); an agency's options.linked_people overrides it")

    @field_validator("serves", mode="before")
    @classmethod
    def _any(cls, value: Any) -> Any:
        return list(AgencyKind) if value == "any" else value

    @field_validator("serves")
    @classmethod
    def _not_empty(cls, value: frozenset[AgencyKind]) -> frozenset[AgencyKind]:
        if not value:
            raise ValueError("a connector kind serves at least one agency kind")
        return value


class ConnectorKinds(_Declared):
    """The whole declaration: every agency kind, and every connector kind by name."""

    agency_kinds: dict[AgencyKind, AgencyKindDeclaration]
    connectors: dict[str, ConnectorKind]

    @model_validator(mode="before")
    @classmethod
    def _names(cls, data: Any) -> Any:
        # The YAML is keyed by name; each entry carries its name too, so one can be passed alone.
        if isinstance(data, dict) and isinstance(data.get("connectors"), dict):
            data = dict(data)
            data["connectors"] = {name: ({"name": name, **entry} if isinstance(entry, dict) else entry)
                                  for name, entry in data["connectors"].items()}
        return data

    @model_validator(mode="after")
    def _every_kind(self) -> "ConnectorKinds":
        missing = sorted(k.value for k in AgencyKind if k not in self.agency_kinds)
        if missing:
            raise ValueError(f"agency_kinds: every AgencyKind must be declared; missing {', '.join(missing)}")
        return self

    def serving(self, kind: AgencyKind) -> list[str]:
        """Names of the connector kinds that serve ``kind``, sorted."""
        return sorted(name for name, c in self.connectors.items() if kind in c.serves)

    def linked_people_problem(self, kind: AgencyKind, value: LinkedPeople) -> str | None:
        """Why an agency of ``kind`` may not run release policy ``value``; None when it may."""
        most = self.agency_kinds[kind].linked_people_most
        if stricter(value, most) != value:
            return (f"a {kind.value} agency may release at most linked_people: {most}; {value} would release "
                    f"more about the other people on its records (agency_kinds.{kind.value}.linked_people_most)")
        return None

    def linked_people(self, connector: str, kind: AgencyKind | None = None,
                      override: LinkedPeople | None = None) -> LinkedPeople:
        """The release policy an agency runs; ValueError when ``override`` is more than its kind allows.

        Why the kind as well as the connector: what must always hold for police (nobody else on a
        nominal's record by default) must hold on any channel a police agency is given, not only pole.
        Without an override: the stricter of the connector kind's declaration (the default, minimal,
        for a plugin) and the agency kind's.
        """
        declared = self.connectors.get(connector)
        policy: LinkedPeople = declared.linked_people if declared is not None else DEFAULT_LINKED_PEOPLE
        if kind is not None:
            policy = stricter(policy, self.agency_kinds[kind].linked_people)
        if override is None:
            return policy
        problem = self.linked_people_problem(kind, override) if kind is not None else None
        if problem:
            raise ValueError(problem)
        return override


def load_connector_kinds(path: Path = DECLARATION_FILE) -> ConnectorKinds:
    """Read and check a declaration file; a problem names the file and the field's position."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return ConnectorKinds.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{path}: {where}: {first['msg']} ({exc.error_count()} problem(s))") from None


@cache
def connector_kinds() -> ConnectorKinds:
    """The shipped declaration (read once per process)."""
    return load_connector_kinds()
