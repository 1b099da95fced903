"""Is a referral's lawful basis sufficient for the agencies it will be sent to?

Pure functions over the rules in configuration (``LawfulBasisRules``): no
I/O, no clock. ``check_lawful_basis`` returns one problem per unmet
requirement, each naming the field (``lawful_basis``), who needs it (the agency
kinds, or the purpose), the rule, and the codes that would satisfy it; the
hub refuses a referral with problems (HTTP 422) before anything is stored or
sent, so no partner is asked to share on an insufficient basis.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from ..config.lawful_basis import BasisRequirement, LawfulBasisRules
from ..schemas.codes import AgencyKind, LawfulBasis, Purpose
from ..schemas.referral import Referral


def check_lawful_basis(
    referral: Referral, agency_kinds: Sequence[AgencyKind], rules: LawfulBasisRules
) -> list[str]:
    """Problems with ``referral.lawful_basis`` for enquiries to ``agency_kinds``; [] when sufficient."""
    return basis_problems(referral.lawful_basis, referral.purpose, agency_kinds, rules)


def basis_problems(
    basis: Collection[LawfulBasis],
    purpose: Purpose,
    agency_kinds: Sequence[AgencyKind],
    rules: LawfulBasisRules,
) -> list[str]:
    """The check on plain values (a referral's or an enquiry's basis and purpose).

    A requirement unmet for several kinds is reported once, naming them all
    (``enquiries to health and social_care need ...``).
    """
    present = frozenset(basis)
    # Requirement (by its content: the same default appears under several kinds) -> kinds lacking it.
    unmet: dict[str, tuple[BasisRequirement, list[AgencyKind]]] = {}
    for kind in dict.fromkeys(agency_kinds):
        for requirement in rules.for_kind(kind):
            if not requirement.satisfied_by(present):
                unmet.setdefault(requirement.model_dump_json(), (requirement, []))[1].append(kind)
    problems = [
        f"lawful_basis: enquiries to {_and(k.value for k in kinds)} need {requirement.need}; "
        f"{_missing(requirement, present)} [rule {requirement.rule}]"
        for requirement, kinds in unmet.values()
    ]
    problems += [
        f"lawful_basis: purpose {purpose.value} needs {requirement.need}; "
        f"{_missing(requirement, present)} [rule {requirement.rule}]"
        for requirement in rules.for_purpose(purpose)
        if not requirement.satisfied_by(present)
    ]
    return problems


def _missing(requirement: BasisRequirement, present: frozenset[LawfulBasis]) -> str:
    """``missing a + b, or c``; codes of an alternative already present are named as such."""
    options = []
    for alternative in requirement.any_of:
        lacking = [code.value for code in alternative if code not in present]
        have = [code.value for code in alternative if code in present]
        options.append((len(lacking), " + ".join(lacking) + (f" (with {' + '.join(have)})" if have else "")))
    options.sort(key=lambda option: option[0])
    return "missing " + ", or ".join(text for _, text in options)


def _and(names: Iterable[str]) -> str:
    items = list(names)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
