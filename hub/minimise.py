"""Minimise people per recipient: an agency receives only the fields its policy allows.

The golden rules say share what is necessary and proportionate; the sharing
policy (``settings.sharing_policies[agency]``) lists the Person fields an
agency receives, and identifiers per system (``identifiers.upn`` releases the
UPN only; bare ``identifiers`` releases every system). Everything else is
removed before the enquiry is built, so nothing withheld can leak through a
later step.

``person_id``, ``unborn`` and ``mother_person_id`` always travel: they are
message-local references, not data about the person. An unborn child's
``expected_birth_date`` travels whenever the policy allows ``birth_date`` or
``expected_birth_date``; if it allows neither, it is still kept, because an
unborn subject cannot be described (or validated) without it, and it is no
more than the date of birth the policy would otherwise withhold. Pure
functions: no I/O, no settings lookups.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..config.models import SharingPolicy
from ..schemas.person import PERSON_SHAREABLE_FIELDS, Person

ALWAYS_KEPT: frozenset[str] = frozenset({"person_id", "unborn", "mother_person_id"})


def minimise_person(person: Person, policy: SharingPolicy) -> Person:
    """A copy of ``person`` holding only what ``policy`` releases."""
    data = person.model_dump(mode="python", exclude_none=False)
    kept: dict[str, object] = {name: data[name] for name in ALWAYS_KEPT}
    for name in PERSON_SHAREABLE_FIELDS:
        if name == "identifiers":
            kept["identifiers"] = [
                ident for ident, model in zip(data["identifiers"], person.identifiers, strict=True)
                if policy.allows_identifier(model.system.value)
            ]
        elif policy.allows_field(name):
            kept[name] = data[name]
    if person.unborn and "expected_birth_date" not in kept:
        kept["expected_birth_date"] = data["expected_birth_date"]
    return Person.model_validate(kept)


def minimise_people(people: Iterable[Person], policy: SharingPolicy) -> list[Person]:
    return [minimise_person(person, policy) for person in people]


def withheld_fields(person: Person, policy: SharingPolicy) -> list[str]:
    """Names of the fields (and identifier systems) removed for this recipient: for the audit."""
    removed: list[str] = []
    for name in sorted(PERSON_SHAREABLE_FIELDS):
        value = getattr(person, name)
        if name == "identifiers":
            removed.extend(
                f"identifiers.{i.system.value}" for i in value if not policy.allows_identifier(i.system.value)
            )
        elif value not in (None, [], {}) and not policy.allows_field(name):
            if name == "expected_birth_date" and person.unborn:
                continue
            removed.append(name)
    return sorted(set(removed))
