"""Base class and version of the canonical safeguarding schema.

The schema is versioned as a whole: every envelope carries
``SCHEMA_VERSION`` and a consumer that does not know a version dead-letters
the message instead of guessing. Models forbid unknown fields so that a typo
in a mapping or a newer sender's extra field is an error, not silent loss.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

SCHEMA_VERSION = "1.0"


def _to_utc(value: datetime) -> datetime:
    """UTC inside: an offset is kept only as far as the instant it names.

    A local time with a zone (e.g. Europe/London in the autumn fold) is
    converted once, here, so every later comparison and every stored or sent
    value is an unambiguous UTC instant.
    """
    return value if value.tzinfo is timezone.utc else value.astimezone(timezone.utc)


#: A timezone-aware datetime, normalised to UTC.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
SUPPORTED_SCHEMA_VERSIONS: frozenset[str] = frozenset({"1.0"})


class CanonicalModel(BaseModel):
    """Strict-ish base: unknown fields are errors, strings are trimmed.

    NaN and infinity are refused because JSON cannot carry them: a model that
    accepted them would not survive its own round trip through the broker.
    """

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        populate_by_name=True,
        use_enum_values=False,
        validate_default=True,
        allow_inf_nan=False,
    )


def rule_error(
    model: str, loc: tuple[str | int, ...], rule: str, message: str, value: Any = None
) -> ValidationError:
    """A validation error for a cross-field rule, located at the offending field.

    Raised from a model validator, pydantic prefixes the location with where
    the model sits (``subjects.0.birth_date``), so an error says the field, the
    rule (the error ``type``) and the position, instead of pointing at the
    whole model.
    """
    return ValidationError.from_exception_data(
        model,
        [InitErrorDetails(type=PydanticCustomError(rule, message), loc=loc, input=value)],
    )
