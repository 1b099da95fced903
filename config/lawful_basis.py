"""Lawful-basis rules: which gateways and conditions make an enquiry lawful, as data.

Every referral names its ``purpose`` and its ``lawful_basis`` (a list of
``LawfulBasis`` codes); the hub fans it out to agencies of several kinds, and
each kind must be able to disclose lawfully on that basis. These rules say,
per agency kind asked and per purpose, what the basis must contain. They are
configuration (``lawful_basis_rules`` in config/mashlink.yaml) so a council's
information-governance lead can read them and adapt them to the local
information sharing agreement; ``mashlink.hub.lawful.check_lawful_basis``
applies them.

The shape: a ``BasisRequirement`` is satisfied when *every* code of *any one*
of its alternatives (``any_of``) is in the referral's basis; a kind or purpose
is satisfied when all of its requirements are. A single code stands for a
one-code alternative. Alternatives keep pairs together that the law pairs:
UK GDPR Art 9(2)(g) needs a DPA 2018 Schedule 1 *Part 2* condition (s10(3)),
Art 9(2)(h) the Part 1 para 2 condition (s10(2)), so ``9(2)(h) + para 18`` is
not accepted.

Defaults (``default_agency_kind_rules``, ``default_purpose_rules``):

* **Statutory gateway**, every kind: Children Act 1989 s17 or s47, or
  Children Act 2004 s10 (co-operation to improve well-being) or s11 (duty to
  safeguard); education also accepts Education Act 2002 s175 (the
  safeguarding duty of LAs and maintained schools, which s11 does not name).
* **Health, education, children's social care** (UK GDPR processing):
  Art 6(1)(e) public task (ICO, *Lawful basis for processing*; HM Government,
  *Information sharing advice for safeguarding practitioners*, 2024), and for
  special-category data (health records; SEN/EHCP and ethnicity in education;
  health and family history in social care) an Art 9 condition with its DPA
  2018 Schedule 1 condition: Art 9(2)(g) + Sch 1 para 18 (safeguarding of
  children and of individuals at risk), or, for health and social care only,
  Art 9(2)(h) + Sch 1 para 2 (health or social care purposes, processed by or
  under a health or social work professional, s11(1)). Sch 1 para 18 also
  covers criminal offence data (Art 10, DPA 2018 s10(5)).
* **Other partners** (``AgencyKind.OTHER``: housing, youth justice, a voluntary
  service; UK GDPR processing): as education without s175, that is a gateway,
  Art 6(1)(e) and Art 9(2)(g) + Sch 1 para 18; Art 9(2)(h) is for health or
  social care purposes, which such a partner does not serve.
* **Police** (DPA 2018 Part 3, law enforcement processing by a competent
  authority, so not UK GDPR): s35 (first principle; s35(5) sensitive
  processing strictly necessary for a law enforcement purpose) with Sch 8
  para 4 (safeguarding of children and of individuals at risk).
* **Purposes**: ``section_47_enquiry``, ``strategy_discussion`` and
  ``immediate_protection`` need Children Act 1989 s47 (a strategy discussion
  is held, and emergency action is followed by enquiries, at the s47
  threshold: *Working Together to Safeguard Children* 2023, ch. 4);
  ``section_17_assessment`` needs s17; ``early_help`` needs Children Act 2004
  s10 (Working Together 2023, ch. 2). ``mash_screening`` adds nothing to the
  agency-kind rules.

Overriding in YAML: a kind or purpose given under ``agency_kinds`` or
``purposes`` replaces that kind's (purpose's) default list; the others keep
their defaults. A purpose given ``[]`` has no extra requirement; every agency
kind must keep at least one requirement (an empty list would let any basis
through). Codes are checked against ``LawfulBasis``: an unknown code is an
error naming its key and the code.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from ..schemas.codes import AgencyKind, LawfulBasis, Purpose

LB = LawfulBasis


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Alternative = Annotated[list[LawfulBasis], Field(min_length=1, max_length=16)]


class BasisRequirement(_Section):
    """One thing the lawful basis must contain: all codes of any one alternative."""

    rule: str = Field(pattern=r"^[a-z0-9][a-z0-9_]{0,62}$",
                      description="Short name of the requirement, shown in problems (e.g. special_category)")
    need: str = Field(min_length=1, max_length=300,
                      description="What is needed, in words (e.g. 'a UK GDPR Article 6 condition')")
    any_of: list[Alternative] = Field(min_length=1, max_length=32,
                                      description="Alternatives; each a code or a list of codes needed together")

    @field_validator("any_of", mode="before")
    @classmethod
    def _single_codes(cls, value: Any) -> Any:
        """``[a, [b, c]]`` means ``[[a], [b, c]]``: a lone code is a one-code alternative."""
        if isinstance(value, (str, LawfulBasis)):
            value = [value]
        if isinstance(value, list):
            return [[item] if isinstance(item, (str, LawfulBasis)) else item for item in value]
        return value

    @field_validator("any_of")
    @classmethod
    def _no_repeats(cls, value: list[list[LawfulBasis]]) -> list[list[LawfulBasis]]:
        seen: list[frozenset[LawfulBasis]] = []
        for alternative in value:
            codes = frozenset(alternative)
            if len(codes) != len(alternative):
                raise ValueError(f"alternative {_plus(alternative)} repeats a code")
            if codes in seen:
                raise ValueError(f"alternative {_plus(alternative)} is listed twice")
            seen.append(codes)
        return value

    def satisfied_by(self, basis: Collection[LawfulBasis]) -> bool:
        return any(all(code in basis for code in alternative) for alternative in self.any_of)


def _plus(codes: list[LawfulBasis]) -> str:
    return " + ".join(code.value for code in codes)


def _req(rule: str, need: str, *any_of: LawfulBasis | list[LawfulBasis]) -> BasisRequirement:
    return BasisRequirement(rule=rule, need=need, any_of=list(any_of))


_GATEWAYS = (LB.CHILDREN_ACT_1989_S17, LB.CHILDREN_ACT_1989_S47, LB.CHILDREN_ACT_2004_S10, LB.CHILDREN_ACT_2004_S11)
_GATEWAY_NEED = "a statutory gateway (Children Act 1989 s17/s47 or Children Act 2004 s10/s11)"
_ARTICLE_6 = ("article_6", "a UK GDPR Article 6 condition (Art 6(1)(e) public task)", LB.UK_GDPR_6_1_E)
_SAFEGUARDING_9 = [LB.UK_GDPR_9_2_G, LB.DPA_2018_SCH1_PARA18]
_HEALTH_CARE_9 = [LB.UK_GDPR_9_2_H, LB.DPA_2018_SCH1_PARA2]
_SPECIAL_NEED = ("a UK GDPR Article 9 condition with its DPA 2018 Schedule 1 condition "
                 "for special-category data")


def default_agency_kind_rules() -> dict[AgencyKind, list[BasisRequirement]]:
    """The shipped per-kind requirements (see the module docstring for the law behind each)."""
    return {
        AgencyKind.POLICE: [
            _req("statutory_gateway", _GATEWAY_NEED, *_GATEWAYS),
            _req("dpa_part_3",
                 "the DPA 2018 Part 3 route for police data (s35 with a Schedule 8 condition, "
                 "Sch 8 para 4 safeguarding of children)",
                 [LB.DPA_2018_S35, LB.DPA_2018_SCH8_PARA4]),
        ],
        AgencyKind.HEALTH: [
            _req("statutory_gateway", _GATEWAY_NEED, *_GATEWAYS),
            _req(*_ARTICLE_6),
            _req("special_category", _SPECIAL_NEED, _SAFEGUARDING_9, _HEALTH_CARE_9),
        ],
        AgencyKind.EDUCATION: [
            _req("statutory_gateway",
                 "a statutory gateway (Children Act 1989 s17/s47, Children Act 2004 s10/s11 "
                 "or Education Act 2002 s175)",
                 *_GATEWAYS, LB.EDUCATION_ACT_2002_S175),
            _req(*_ARTICLE_6),
            _req("special_category", _SPECIAL_NEED, _SAFEGUARDING_9),
        ],
        AgencyKind.SOCIAL_CARE: [
            _req("statutory_gateway", _GATEWAY_NEED, *_GATEWAYS),
            _req(*_ARTICLE_6),
            _req("special_category", _SPECIAL_NEED, _SAFEGUARDING_9, _HEALTH_CARE_9),
        ],
        # Any other partner (housing, youth justice, ...): see the module docstring.
        AgencyKind.OTHER: [
            _req("statutory_gateway", _GATEWAY_NEED, *_GATEWAYS),
            _req(*_ARTICLE_6),
            _req("special_category", _SPECIAL_NEED, _SAFEGUARDING_9),
        ],
    }


def default_purpose_rules() -> dict[Purpose, list[BasisRequirement]]:
    """The shipped per-purpose requirements; a purpose not listed adds none."""
    s47 = ("purpose_gateway", "the Children Act 1989 s47 gateway (enquiries where a child is suspected "
                              "to be suffering, or likely to suffer, significant harm)", LB.CHILDREN_ACT_1989_S47)
    return {
        Purpose.SECTION_47_ENQUIRY: [_req(*s47)],
        Purpose.STRATEGY_DISCUSSION: [_req(*s47)],
        Purpose.IMMEDIATE_PROTECTION: [_req(*s47)],
        Purpose.SECTION_17_ASSESSMENT: [
            _req("purpose_gateway", "the Children Act 1989 s17 gateway (child in need)", LB.CHILDREN_ACT_1989_S17),
        ],
        Purpose.EARLY_HELP: [
            _req("purpose_gateway", "the Children Act 2004 s10 gateway (co-operation to improve well-being)",
                 LB.CHILDREN_ACT_2004_S10),
        ],
    }


def _unique_rules(requirements: list[BasisRequirement]) -> list[BasisRequirement]:
    names = [r.rule for r in requirements]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"rule names must be unique within a list; repeated: {', '.join(repeated)}")
    return requirements


#: A list of requirements whose rule names are unique (problems name them).
Requirements = Annotated[list[BasisRequirement], AfterValidator(_unique_rules)]


class LawfulBasisRules(_Section):
    """Per agency kind asked, and per purpose, what the referral's lawful basis must contain."""

    agency_kinds: dict[AgencyKind, Annotated[Requirements, Field(min_length=1)]] = Field(
        default_factory=default_agency_kind_rules,
        description="Requirements per agency kind enquired of; kinds not given keep their defaults",
    )
    purposes: dict[Purpose, Requirements] = Field(
        default_factory=default_purpose_rules,
        description="Extra requirements per purpose; purposes not given keep their defaults ([] for none)",
    )

    @model_validator(mode="before")
    @classmethod
    def _over_defaults(cls, data: Any) -> Any:
        """A partial section overrides only the kinds and purposes it names."""
        if not isinstance(data, Mapping):
            return data
        merged = dict(data)
        for key, defaults in (("agency_kinds", default_agency_kind_rules), ("purposes", default_purpose_rules)):
            given = data.get(key)
            if isinstance(given, Mapping):
                merged[key] = {**{k.value: v for k, v in defaults().items()}, **given}
        return merged

    def for_kind(self, kind: AgencyKind) -> list[BasisRequirement]:
        return self.agency_kinds.get(kind, [])

    def for_purpose(self, purpose: Purpose) -> list[BasisRequirement]:
        return self.purposes.get(purpose, [])


__all__ = [
    "BasisRequirement", "LawfulBasisRules", "default_agency_kind_rules", "default_purpose_rules",
]
