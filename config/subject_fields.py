"""The canonical Person fields a sharing policy may release, kept in one place.

A sharing policy names the subject fields an agency may receive. Names are
checked against the canonical Person model so a typo (``birthdate``) fails at
start-up instead of silently withholding (or leaking) data. Identifiers are
minimised per system: ``identifiers.upn`` releases only the UPN, while the bare
``identifiers`` releases every identifier.

If the schema package cannot be imported (it is built alongside this one), the
fallback lists below are used; they mirror the schema and are checked against
it by the tests.
"""

from __future__ import annotations

_FALLBACK_PERSON_FIELDS: frozenset[str] = frozenset(
    {
        "names", "birth_date", "expected_birth_date", "death_date", "sex", "ethnicity",
        "language", "identifiers", "addresses", "contacts",
    }
)
_FALLBACK_IDENTIFIER_SYSTEMS: frozenset[str] = frozenset(
    {
        "nhs_number", "upn", "la_child_id", "police_person_id", "pnc_id", "hospital_mrn",
        "school_urn", "other",
    }
)


def _person_fields() -> frozenset[str]:
    try:
        from ..schemas.person import PERSON_SHAREABLE_FIELDS
    except ImportError:
        try:
            from ..schemas.person import Person
        except ImportError:
            return _FALLBACK_PERSON_FIELDS
        return frozenset(Person.model_fields) - {"person_id", "unborn", "mother_person_id"}
    return frozenset(PERSON_SHAREABLE_FIELDS)


def _identifier_systems() -> frozenset[str]:
    try:
        from ..schemas.identifiers import IdentifierSystem
    except ImportError:
        return _FALLBACK_IDENTIFIER_SYSTEMS
    return frozenset(s.value for s in IdentifierSystem)


#: Top-level Person fields (``names``, ``birth_date`` ...).
PERSON_FIELDS: frozenset[str] = _person_fields()
#: Identifier systems that ``identifiers.<system>`` may name.
IDENTIFIER_SYSTEMS: frozenset[str] = _identifier_systems()
#: Every name a policy's ``subject_fields`` may contain.
SUBJECT_FIELD_NAMES: frozenset[str] = PERSON_FIELDS | frozenset(
    f"identifiers.{system}" for system in IDENTIFIER_SYSTEMS
)


def check_subject_field(name: str) -> str | None:
    """None when ``name`` is a known subject field, else the reason it is not."""
    if name in SUBJECT_FIELD_NAMES:
        return None
    if name.startswith("identifiers."):
        known = ", ".join(sorted(IDENTIFIER_SYSTEMS))
        return f"unknown identifier system {name.split('.', 1)[1]!r}; known: {known}"
    known = ", ".join(sorted(PERSON_FIELDS))
    return f"{name!r} is not a canonical Person field; known: {known} (or identifiers.<system>)"
