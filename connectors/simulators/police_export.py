"""A simulated force's POLE export: the synthetic population's police view as a POLE graph.

The simulated force is the synthetic population's police view
(:func:`mashlink.connectors.simulators.police.build_police`) re-expressed as a
POLE graph, so the police connector, the demo and the tests all see the same
families as every other simulated agency: no second population is invented.
It lives with the simulators (it was ``connectors/police/export.py``) because
simulators may use production code but production code never imports them;
write the result with :mod:`mashlink.connectors.police.export`.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from ..police.schema import (
    EntityKind,
    ExportHeader,
    LinkType,
    PoleEvent,
    PoleExport,
    PoleLink,
    PoleLocation,
    PoleName,
    PoleObject,
    PolePerson,
    PpnDetails,
    WarningMarker,
)
from .police import SYSTEM, build_police
from .population import Population
from ...schemas.codes import FindingCategory, HandlingCode, RelationshipType
from ...schemas.identifiers import IdentifierSystem

_EVENT_TYPE = {
    FindingCategory.POLICE_DOMESTIC_ABUSE_INCIDENT: "DA",
    FindingCategory.POLICE_MISSING_EPISODE: "MISPER",
    FindingCategory.POLICE_ARREST_CHARGE: "ARREST",
    FindingCategory.POLICE_CHILD_COMING_TO_NOTICE: "CCTN",
    FindingCategory.POLICE_INFORMATION_HELD: "INTEL",
    FindingCategory.POLICE_WARNING_MARKER: "INTEL",  # only DND "markers" become events: they are intelligence
}
_ROLE_BY_TYPE = {"MISPER": LinkType.MISSING_PERSON, "ARREST": LinkType.ARRESTED, "CCTN": LinkType.SUBJECT_OF_CCTN}
_FAMILY_LINK = {
    RelationshipType.MOTHER: LinkType.PARENT, RelationshipType.FATHER: LinkType.PARENT,
    RelationshipType.PARENT: LinkType.PARENT, RelationshipType.STEP_PARENT: LinkType.STEP_PARENT,
    RelationshipType.CARER: LinkType.CARER, RelationshipType.GUARDIAN: LinkType.GUARDIAN,
    RelationshipType.PARTNER_OF_PARENT: LinkType.PARTNER, RelationshipType.SIBLING: LinkType.SIBLING,
}
_PPN_CONCERNS = {"DA", "CSE", "CCE", "MISSING", "NEGLECT"}
_SEX = {"male": "M", "female": "F", "other": "X"}


def simulated_force_export(population: Population, *, agency_id: str = "police-synth",
                           exported_at: datetime | None = None) -> PoleExport:
    """The synthetic population's police records as one POLE export (deterministic per seed and as_of)."""
    sim = build_police(population, agency_id)
    force = population.force_code
    year = population.as_of.year
    persons: list[PolePerson] = []
    events: list[PoleEvent] = []
    links: list[PoleLink] = []
    locations: dict[str, PoleLocation] = {}
    objects: list[PoleObject] = []
    key_of: dict[str, str] = {}  # police id -> population key
    n_event = 0

    def link(ltype: LinkType, fk: EntityKind, fid: str, tk: EntityKind, tid: str, **extra: object) -> None:
        links.append(PoleLink(link_id=f"LK-{len(links) + 1:06d}", type=ltype, from_kind=fk, from_id=fid,
                              to_kind=tk, to_id=tid, **extra))  # type: ignore[arg-type]

    for record in sim.records:
        copy = record.person
        police_id = copy.identifier(IdentifierSystem.POLICE_PERSON_ID)
        assert police_id is not None
        pid = police_id.value
        synth = next(p for p in population.people() if p.police_id == pid)
        key_of[pid] = synth.key
        family = population.family(synth.family_id)
        markers: list[WarningMarker] = []
        arrested = False
        for finding in record.findings:
            if finding.category is FindingCategory.POLICE_WARNING_MARKER and not finding.do_not_disseminate:
                markers.append(WarningMarker(
                    marker_id=f"WM-{pid}-{len(markers) + 1}", code=finding.codes[0] if finding.codes else "WM",
                    description=finding.summary, from_date=finding.start,  # type: ignore[arg-type]
                    handling_code=(finding.handling_code or HandlingCode.CONDITIONS).value))
                continue
            n_event += 1
            etype = _EVENT_TYPE[finding.category]
            arrested |= etype == "ARREST"
            attrs = {k: v for k, v in finding.attributes.items() if k != "role"}
            risk = attrs.pop("risk", None)
            ppn = None
            if etype == "CCTN":
                grading = "high" if ("CSE" in finding.codes or "CCE" in finding.codes or risk == "high") else "medium"
                ppn = PpnDetails(
                    risk_grading=grading,  # type: ignore[arg-type]
                    concerns=[c for c in finding.codes if c in _PPN_CONCERNS] or ["CCTN"],
                    submitted_at=datetime.combine(finding.start, time(10, 0), tzinfo=UTC),  # type: ignore[arg-type]
                    local_authority=population.la_code, officer="Response team (synthetic)")
            event_id = f"EV-{n_event:06d}"
            events.append(PoleEvent(
                event_id=event_id, reference=f"{force}-{year}-{n_event:06d}", type=etype,
                occurred_from=finding.start, occurred_to=finding.end,  # type: ignore[arg-type]
                summary=finding.summary, handling_code=(finding.handling_code or HandlingCode.PERMITTED).value,
                codes=list(finding.codes), risk=risk if risk in ("standard", "medium", "high") else None,  # type: ignore[arg-type]
                reliability=finding.reliability.value, attributes=attrs, ppn=ppn,  # type: ignore[arg-type]
            ))
            role = finding.attributes.get("role")
            ltype = LinkType(role) if role in ("victim", "suspect") else _ROLE_BY_TYPE.get(etype, LinkType.SUBJECT)
            link(ltype, EntityKind.PERSON, pid, EntityKind.EVENT, event_id)
            loc_id = f"LOC-{family.family_id}"
            link(LinkType.OCCURRED_AT, EntityKind.EVENT, event_id, EntityKind.LOCATION, loc_id)
        pnc = f"{(synth.birth_date.year + 18) % 100:02d}/{int(pid[3:8]):07d}{'ABCDEFGHJKLMNPQRTUVWXYZ'[int(pid[-3:]) % 23]}" \
            if arrested and synth.birth_date else None
        persons.append(PolePerson(
            person_id=pid, pnc_id=pnc,
            names=[PoleName(use=n.use.value if n.use.value in ("official", "alias", "previous", "preferred")
                            else "alias", given=n.given, family=n.family) for n in copy.names],  # type: ignore[arg-type]
            birth_date=copy.birth_date.value if copy.birth_date else None,
            sex=_SEX.get(copy.sex.value if copy.sex else "", "U"),  # type: ignore[arg-type]
            warning_markers=markers,
        ))
        loc_id = f"LOC-{family.family_id}"
        if loc_id not in locations:
            locations[loc_id] = PoleLocation(location_id=loc_id, lines=list(family.lines), town=family.town,
                                             postcode=family.postcode)
        link(LinkType.RESIDENT, EntityKind.PERSON, pid, EntityKind.LOCATION, loc_id)
        if arrested:
            obj_id = f"OB-{pid}"
            objects.append(PoleObject(object_id=obj_id, type="vehicle", description="Silver hatchback (synthetic)",
                                      identifier=f"ZZ{pid[-2:]} SYN"))
            link(LinkType.OWNER, EntityKind.PERSON, pid, EntityKind.OBJECT, obj_id)

    # Family links between people the force holds.
    by_key = {key: pid for pid, key in key_of.items()}
    for family in population.families:
        for fl in family.links:
            if fl.from_key in by_key and fl.to_key in by_key and fl.type in _FAMILY_LINK:
                link(_FAMILY_LINK[fl.type], EntityKind.PERSON, by_key[fl.from_key], EntityKind.PERSON,
                     by_key[fl.to_key], parental_responsibility=fl.parental_responsibility)

    stamp = exported_at or datetime.combine(population.as_of, time(6, 0), tzinfo=UTC)
    return PoleExport(
        export=ExportHeader(export_id=f"{force}-{population.as_of:%Y%m%d}-{population.seed}", force_code=force,
                            system=SYSTEM, exported_at=stamp),
        persons=persons, objects=objects, locations=list(locations.values()), events=events, links=links,
    )
