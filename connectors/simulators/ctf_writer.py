"""Write synthetic Common Transfer Files from the synthetic population (tests, demos, benchmarks).

Two layouts, the ones ``config/mappings/ctf.yaml`` must both read:

* ``standard``: DfE layout (names, DOB and ``Sex`` directly under ``Pupil``,
  BS7666 address, lower-case booleans);
* ``basicdetails``: a supplier variant (names, DOB and ``Gender`` inside
  ``BasicDetails``, flat ``AddressLines``, ``TRUE``/``0`` booleans).

Every person is made up (see ``connectors/simulators/population.py``).
Attendance, FSM and the in-care flag are derived deterministically from the
person's key, so the same population always gives the same file.

It lives with the simulated systems, not in connectors/education/, because it
is the simulated school's side of the exchange: production connector code
never imports it (tests/architecture/test_import_layers.py checks that).
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Literal

from lxml import etree

from .population import Family, Population, SynthPerson
from ...schemas.codes import RelationshipType, Sex

Variant = Literal["standard", "basicdetails"]

_REL_CODES = {
    (RelationshipType.MOTHER, None): "PAM",
    (RelationshipType.FATHER, None): "PAF",
    (RelationshipType.STEP_PARENT, None): "STP",
    (RelationshipType.CARER, None): "CAR",
    (RelationshipType.GUARDIAN, None): "GRD",
    (RelationshipType.GRANDPARENT, None): "GRP",
}


def _sub(parent: etree._Element, tag: str, text: str | int | None = None) -> etree._Element:
    element = etree.SubElement(parent, tag)
    if text is not None:
        element.text = str(text)
    return element


def _n(key: str, salt: str, modulo: int) -> int:
    return int(hashlib.sha256(f"{salt}:{key}".encode()).hexdigest()[:8], 16) % modulo


def _sex(sex: Sex) -> str | None:
    return {Sex.MALE: "M", Sex.FEMALE: "F"}.get(sex)


def _bool(value: bool, variant: Variant) -> str:
    if variant == "standard":
        return "true" if value else "false"
    return "TRUE" if value else "0"


def _address(parent: etree._Element, family: Family, variant: Variant) -> None:
    address = _sub(parent, "Address")
    if variant == "standard":
        bs = _sub(address, "BS7666Address")
        first, *rest = family.lines or ("",)
        number, _, street = first.partition(" ")
        if number.isdigit():
            _sub(bs, "PAON", number)
            _sub(bs, "Street", street)
        else:
            _sub(bs, "Street", first)
        if rest:
            _sub(bs, "Locality", rest[0])
        _sub(bs, "PostTown", family.town)
    else:
        lines = _sub(address, "AddressLines")
        for i, line in enumerate([*family.lines, family.town][:5], start=1):
            _sub(lines, f"AddressLine{i}", line)
    _sub(address, "PostCode", family.postcode)


def _pupil(parent: etree._Element, child: SynthPerson, family: Family, population: Population,
           variant: Variant) -> None:
    pupil = _sub(parent, "Pupil")
    _sub(pupil, "UPN", child.upn)
    basic = etree.Element("BasicDetails")
    holder = pupil if variant == "standard" else basic
    _sub(holder, "Surname", child.family)
    _sub(holder, "Forename", child.given)
    if child.birth_date:
        _sub(holder, "DOB", child.birth_date.isoformat())
    sex = _sex(child.sex)
    if sex:
        _sub(holder, "Sex" if variant == "standard" else "Gender", sex)
    pupil.append(basic)
    if child.nickname:
        _sub(basic, "PreferredForename", child.nickname)
    if child.previous_family:
        _sub(basic, "FormerSurname", child.previous_family)
    in_care = _n(child.key, "care", 10) == 0
    if variant == "standard":
        care = _sub(basic, "InCare")
        _sub(care, "InCare", _bool(in_care, variant))
    else:
        _sub(basic, "InCare", _bool(in_care, variant))
    _address(pupil, family, variant)
    contacts = _sub(pupil, "Contacts")
    order = 0
    for link in family.links:
        if link.to_key != child.key:
            continue
        code = _REL_CODES.get((link.type, None))
        if code is None:
            continue
        adult = family.member(link.from_key)
        order += 1
        contact = _sub(contacts, "Contact")
        _sub(contact, "Order", order)
        _sub(contact, "Surname", adult.family)
        _sub(contact, "Forename", adult.given)
        adult_sex = _sex(adult.sex)
        if adult_sex:
            _sub(contact, "Sex" if variant == "standard" else "Gender", adult_sex)
        _sub(contact, "Relationship", code)
        _sub(contact, "Responsibility", _bool(bool(link.parental_responsibility), variant))
    attendance = _sub(pupil, "Attendance")
    year = population.as_of.year - (1 if population.as_of.month < 9 else 0) - 1
    possible = 300 + _n(child.key, "possible", 40)
    missed = _n(child.key, "missed", possible // 5)
    year_data = _sub(attendance, "YearData")
    _sub(year_data, "Year", year)
    _sub(year_data, "SessionsPossible", possible)
    _sub(year_data, "SessionsAuthorised", missed // 2)
    _sub(year_data, "SessionsUnauthorised", missed - missed // 2)
    if _n(child.key, "fsm", 3) == 0:
        fsm = _sub(_sub(pupil, "FSMhistory"), "FSMinstance")
        _sub(fsm, "FSMstartDate", date(year, 9, 1).isoformat())


def ctf_from_population(population: Population, *, variant: Variant = "standard", estab: str = "2001",
                        school_name: str = "Testwick High School", dest_la: str | None = None,
                        limit: int | None = None) -> bytes:
    """A CTF holding every school-age child with a UPN in the population (families in order)."""
    root = etree.Element("CTfile")
    header = _sub(root, "Header")
    _sub(header, "DocumentName", "Common Transfer File")
    _sub(header, "CTFversion", "20.0" if variant == "standard" else "16.0")
    _sub(header, "DateTime", f"{population.as_of.isoformat()}T12:00:00")
    _sub(header, "DocumentQualifier", "full")
    _sub(header, "SupplierID", "SynthMIS" if variant == "standard" else "OtherMIS")
    source = _sub(header, "SourceSchool")
    _sub(source, "LEA", population.la_code)
    _sub(source, "Estab", estab)
    _sub(source, "SchoolName", school_name)
    if dest_la:
        dest = _sub(header, "DestSchool")
        _sub(dest, "LEA", dest_la)
    data = _sub(root, "CTFpupilData")
    written = 0
    for family in population.families:
        for child in family.children:
            if not child.upn or child.unborn:
                continue
            _pupil(data, child, family, population, variant)
            written += 1
            if limit is not None and written >= limit:
                return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
