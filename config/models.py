"""Typed configuration sections: agencies, sharing policy, RAG timescales, calendar.

Each section validates itself (shape, ranges, internal consistency); rules
that span sections (every agency has a policy, the served LA has timescales)
live on ``MashlinkSettings``. Models are frozen: settings are read, never
mutated at run time.
"""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from .connector_kinds import connector_kinds
from .matching import MatchPolicy
from .subject_fields import check_subject_field
from ..schemas.codes import AgencyKind, FindingCategory, Rag, Sensitivity

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"

#: Connectors shipped with mashlink and the agency kinds each one serves, from the one
#: declaration (``config/connector_kinds.yaml``). A connector outside it must be given as a
#: plugin path (``package.module:factory``) so that a typo such as ``fihr`` is caught.
KNOWN_CONNECTORS: dict[str, frozenset[AgencyKind]] = {
    name: kind.serves for name, kind in connector_kinds().connectors.items()
}
_PLUGIN_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")

SENSITIVE_HEALTH: frozenset[Sensitivity] = frozenset(
    {Sensitivity.SEXUAL_HEALTH, Sensitivity.MENTAL_HEALTH}
)
POLICE_CATEGORIES: frozenset[FindingCategory] = frozenset(
    c for c in FindingCategory if c.agency_kind is AgencyKind.POLICE
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalAuthority(_Section):
    """The local authority whose MASH this hub serves."""

    code: Annotated[str, Field(pattern=r"^[0-9A-Z]{3,9}$")] = Field(
        default="999", description="DfE LA code (3 digits) or ONS code"
    )
    name: str = Field(default="Synthshire County Council", min_length=1, max_length=200)

    @field_validator("code", mode="before")
    @classmethod
    def _int_code(cls, value: Any) -> Any:
        # YAML reads an unquoted 999 as an int; the code is an identifier, not a number.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class AgencyConfig(_Section):
    """One partner agency the hub sends enquiries to, and how it is connected."""

    id: str = Field(pattern=SLUG_PATTERN, description="Unique slug; also the sender id on envelopes")
    kind: AgencyKind
    name: str = Field(min_length=1, max_length=200)
    connector: str = Field(min_length=1, max_length=200)
    formats: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._+-]{0,63}$")]] = Field(
        default_factory=list, max_length=32
    )
    enabled: bool = True
    options: dict[str, Any] = Field(default_factory=dict)
    matching: MatchPolicy = Field(default_factory=MatchPolicy,
                                  description="Identity-matching thresholds for this agency (config/matching.py)")

    @field_validator("formats")
    @classmethod
    def _unique_formats(cls, value: list[str]) -> list[str]:
        dupes = sorted({f for f in value if value.count(f) > 1})
        if dupes:
            raise ValueError(f"formats must be unique; repeated: {', '.join(dupes)}")
        return value

    @model_validator(mode="after")
    def _connector_fits_kind(self) -> "AgencyConfig":
        kinds = KNOWN_CONNECTORS.get(self.connector)
        problem = ""
        if kinds is None:
            if not _PLUGIN_RE.match(self.connector):
                known = ", ".join(sorted(KNOWN_CONNECTORS))
                problem = (f"unknown connector; use one of {known} "
                           "or a plugin path 'package.module:factory'")
        elif self.kind not in kinds:
            allowed = ", ".join(sorted(k.value for k in kinds))
            problem = f"connector {self.connector!r} serves {allowed} agencies, not {self.kind.value}"
        if problem:
            # Reported at agencies[i].connector rather than at the agency as a whole.
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [InitErrorDetails(type=PydanticCustomError("config_rule", problem.replace("{", "{{").replace("}", "}}")),
                                  loc=("connector",), input=self.connector)],
            )
        return self


class SharingPolicy(_Section):
    """What one agency may receive: minimisation per recipient (golden rules).

    ``finding_categories: all`` means every category other rules allow: an
    agency that does not receive police intelligence never gets police
    categories, even under ``all``.
    """

    subject_fields: frozenset[str] = Field(
        description="Canonical Person fields of enquiry subjects; identifiers.<system> per system"
    )
    finding_categories: frozenset[FindingCategory] = Field(default_factory=frozenset)
    sensitivities: frozenset[Sensitivity] = frozenset({Sensitivity.STANDARD})
    receives_police_intelligence: bool = False

    @model_validator(mode="before")
    @classmethod
    def _expand_all(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("finding_categories") == "all":
            police = bool(data.get("receives_police_intelligence", False))
            data = dict(data)
            data["finding_categories"] = [
                c.value for c in FindingCategory if police or c not in POLICE_CATEGORIES
            ]
        return data

    @field_validator("subject_fields")
    @classmethod
    def _known_fields(cls, value: frozenset[str]) -> frozenset[str]:
        problems = [p for name in sorted(value) if (p := check_subject_field(name))]
        if problems:
            raise ValueError("; ".join(problems))
        if not value:
            raise ValueError("at least one subject field is needed to identify the subject")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "SharingPolicy":
        if not self.receives_police_intelligence:
            police = sorted(c.value for c in self.finding_categories & POLICE_CATEGORIES)
            if police:
                raise ValueError(
                    "finding_categories include police intelligence "
                    f"({', '.join(police)}) but receives_police_intelligence is false"
                )
            if Sensitivity.POLICE_RESTRICTED in self.sensitivities:
                raise ValueError(
                    "sensitivities include police_restricted but receives_police_intelligence is false"
                )
        return self

    # -- questions the hub asks -------------------------------------------------
    def allows_field(self, field: str) -> bool:
        """May this agency receive Person ``field`` (or ``identifiers.<system>``)?"""
        if field in self.subject_fields:
            return True
        return field.startswith("identifiers.") and "identifiers" in self.subject_fields

    def allows_identifier(self, system: str) -> bool:
        """May this agency receive identifiers of ``system`` (an IdentifierSystem value)?"""
        return self.allows_field(f"identifiers.{system}")

    def allows_category(self, category: FindingCategory | str) -> bool:
        return FindingCategory(category) in self.finding_categories

    def allows_sensitivity(self, sensitivity: Sensitivity | str) -> bool:
        return Sensitivity(sensitivity) in self.sensitivities


class RagTimescale(_Section):
    """How long partners have to answer at one rating."""

    hours: float = Field(gt=0, le=2000, description="Working hours (clock hours if out_of_hours)")
    out_of_hours: bool = Field(
        default=False, description="Worked around the clock: the deadline counts clock hours"
    )

    @property
    def duration(self) -> timedelta:
        return timedelta(hours=self.hours)


class RagTimescales(_Section):
    """One local authority's response timescales (local policy, not national)."""

    red: RagTimescale
    amber: RagTimescale
    green: RagTimescale
    at_risk_fraction: float = Field(
        default=0.75, gt=0, lt=1, description="Share of the time after which an at-risk escalation fires"
    )

    @model_validator(mode="after")
    def _ordered(self) -> "RagTimescales":
        if not (self.red.hours <= self.amber.hours <= self.green.hours):
            raise ValueError(
                "hours must not decrease from red to amber to green "
                f"(got red {self.red.hours:g}, amber {self.amber.hours:g}, green {self.green.hours:g})"
            )
        return self

    def for_rag(self, rag: Rag | str) -> RagTimescale:
        return getattr(self, Rag(rag).value)


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def index(self) -> int:
        """Python's ``date.weekday()`` number (Monday 0)."""
        return list(Weekday).index(self)


_DAY_SUFFIXES = ("day", "sday", "nesday", "rsday", "day", "urday", "day")

#: Bank-holiday calendars by region, as (country, subdivision) for the ``holidays`` package.
BANK_HOLIDAY_REGIONS: dict[str, tuple[str, str] | None] = {
    "england-and-wales": ("GB", "ENG"),
    "scotland": ("GB", "SCT"),
    "northern-ireland": ("GB", "NIR"),
    "none": None,
}


class CalendarSettings(_Section):
    """When the MASH works: the basis of working-hours deadlines."""

    timezone: str = "Europe/London"
    day_start: time = time(9, 0)
    day_end: time = time(17, 0)
    working_weekdays: list[Weekday] = Field(
        default_factory=lambda: [Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI],
        min_length=1,
    )
    bank_holidays: str = "england-and-wales"
    closures: list[date] = Field(
        default_factory=list,
        description="Extra closure days; a 'YYYY-MM-DD/YYYY-MM-DD' item is an inclusive range",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. Europe/London)") from None
        return value

    @field_validator("working_weekdays", mode="before")
    @classmethod
    def _weekday_names(cls, value: Any) -> Any:
        if isinstance(value, list):
            full = {d.value + rest: d.value for d, rest in zip(Weekday, _DAY_SUFFIXES)}
            return [full.get(v.strip().lower(), v.strip().lower()) if isinstance(v, str) else v for v in value]
        return value

    @field_validator("working_weekdays")
    @classmethod
    def _unique_days(cls, value: list[Weekday]) -> list[Weekday]:
        if len(set(value)) != len(value):
            raise ValueError("working_weekdays must not repeat a day")
        return value

    @field_validator("bank_holidays")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value not in BANK_HOLIDAY_REGIONS:
            raise ValueError(f"unknown region {value!r}; use one of {', '.join(BANK_HOLIDAY_REGIONS)}")
        return value

    @field_validator("closures", mode="before")
    @classmethod
    def _expand_ranges(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        out: list[Any] = []
        for item in value:
            if isinstance(item, str) and "/" in item:
                first, _, last = item.partition("/")
                try:
                    start, end = date.fromisoformat(first.strip()), date.fromisoformat(last.strip())
                except ValueError:
                    raise ValueError(f"closure range {item!r} is not 'YYYY-MM-DD/YYYY-MM-DD'") from None
                if end < start or (end - start).days > 366:
                    raise ValueError(f"closure range {item!r} must run forwards and span at most a year")
                out.extend(start + timedelta(days=i) for i in range((end - start).days + 1))
            else:
                out.append(item)
        return out

    @model_validator(mode="after")
    def _day_order(self) -> "CalendarSettings":
        if self.day_end <= self.day_start:
            raise ValueError(
                f"day_end ({self.day_end:%H:%M}) must be after day_start ({self.day_start:%H:%M})"
            )
        return self

    @property
    def weekday_indexes(self) -> frozenset[int]:
        return frozenset(day.index for day in self.working_weekdays)
