"""The matching benchmark's synthetic population and referral subjects.

The benchmark's figures mean something only if the population has the
properties the issue names (skewed names, twins, unborn children linked to
their mother, 999-range NHS numbers, ~20 % non-members) and each corruption
label says what was really done to the subject. These tests check the
generator; they never run the benchmark and never look at timings.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from mashlink.bench.matching_population import (
    NICKNAMES,
    PHONETIC,
    TWIN_NAME_PAIRS,
    NhsAllocator,
    PopulationSpec,
    index_records,
    iter_households,
    make_subjects,
)
from mashlink.schemas.identifiers import IdentifierSystem, nhs_number_is_valid
from mashlink.schemas.person import Person

SPEC = PopulationSpec(seed=4242, people=6_000)
SUBJECTS = 600


@pytest.fixture(scope="module")
def records() -> dict[str, Person]:
    return dict(index_records(SPEC))


@pytest.fixture(scope="module")
def households() -> list:
    return list(iter_households(SPEC))


@pytest.fixture(scope="module")
def subjects() -> list:
    return make_subjects(SPEC, SUBJECTS)


def _nhs(person: Person) -> str | None:
    ident = person.identifier(IdentifierSystem.NHS_NUMBER)
    return ident.value if ident else None


def test_same_spec_same_population_and_subjects(records, subjects) -> None:
    again = list(index_records(SPEC))
    assert [rid for rid, _ in again] == list(records)
    assert [p.model_dump_json() for _, p in again[:300]] == [p.model_dump_json() for p in list(records.values())[:300]]
    again_subjects = make_subjects(SPEC, SUBJECTS)
    assert [(s.subject_id, s.true_record_id, s.corruptions, s.person.model_dump_json()) for s in again_subjects] == [
        (s.subject_id, s.true_record_id, s.corruptions, s.person.model_dump_json()) for s in subjects
    ]
    other = dict(index_records(PopulationSpec(seed=4243, people=2_000)))
    assert [p.names[0].family for p in list(other.values())[:50]] != [
        p.names[0].family for p in list(records.values())[:50]
    ]


def test_index_holds_the_requested_people_with_unique_stable_ids(records) -> None:
    assert SPEC.people <= len(records) < SPEC.people + 12  # the last household may overshoot by its size
    assert all(rid == p.person_id and rid.startswith("P") and len(rid) == 8 for rid, p in records.items())


def test_nhs_numbers_are_valid_999_numbers_never_shared(households, records) -> None:
    everyone = [m.nhs_number for h in households for m in h.members if m.nhs_number]
    assert len(everyone) == len(set(everyone))
    assert all(n.startswith("999") and nhs_number_is_valid(n) for n in everyone)
    indexed = [n for n in map(_nhs, records.values()) if n]
    assert 0.6 * len(records) < len(indexed) < len(records)  # most, not all, records carry one
    allocator = NhsAllocator(seed=1)
    drawn = [allocator.next() for _ in range(30_000)]
    assert len(set(drawn)) == len(drawn) and all(n and nhs_number_is_valid(n) for n in drawn)


def test_nhs_allocator_says_when_the_test_range_is_used_up() -> None:
    allocator = NhsAllocator(seed=2)
    allocator._next = allocator.capacity  # as if every valid 999 number had been handed out
    assert allocator.next() is None


def test_surnames_are_skewed_with_a_long_tail(records) -> None:
    counts = Counter(p.names[0].family for p in records.values() if not p.unborn)
    top = counts.most_common(10)
    assert top[0][0] == "Smith"
    share = sum(n for _, n in top) / sum(counts.values())
    assert 0.03 < share < 0.15
    assert len(counts) > 800
    assert sum(1 for n in counts.values() if n <= 3) > 300  # a long tail of rare names


def test_given_names_come_from_several_communities(records) -> None:
    given = {p.names[0].given[0] for p in records.values() if p.names[0].given}
    for name in ("Muhammad", "Aisha", "Zuzanna", "Chiamaka", "Oliver", "Kieran", "Kyran"):
        assert name in given


def test_postcodes_are_valid_and_shared_by_neighbours(records) -> None:
    postcodes = Counter(a.postcode for p in records.values() for a in p.addresses)
    assert all(pc and pc.startswith("Z") for pc in postcodes)
    assert all(a.postcode_valid for p in records.values() for a in p.addresses)
    assert max(postcodes.values()) > 5  # several households per postcode unit


def test_twins_share_everything_but_a_given_name(households) -> None:
    pairs = []
    for house in households:
        by_id = {m.record_id: m for m in house.members}
        for m in house.members:
            if m.twin_of and m.record_id < m.twin_of:
                pairs.append((m, by_id[m.twin_of]))
    assert len(pairs) > 20
    for a, b in pairs:
        assert a.birth_date == b.birth_date and a.family == b.family and a.household_id == b.household_id
        assert a.given != b.given
    nickname_pairs = {frozenset((g1, g2)) for g1, g2, _ in TWIN_NAME_PAIRS}
    assert any(frozenset((a.given, b.given)) in nickname_pairs for a, b in pairs)


def test_unborn_children_are_linked_to_their_indexed_mother(records, households) -> None:
    unborn = [p for p in records.values() if p.unborn]
    assert len(unborn) > 10
    home = {m.record_id: h.household_id for h in households for m in h.members}
    for child in unborn:
        assert child.birth_date is None and child.expected_birth_date and child.expected_birth_date > SPEC.as_of
        mother = records[child.mother_person_id]
        assert mother.sex is not None and mother.sex.value == "female" and not mother.unborn
        assert home[child.person_id] == home[mother.person_id]


def test_some_records_keep_an_old_surname_and_a_previous_address(records) -> None:
    assert sum(1 for p in records.values() if len(p.names) > 1) > 50
    assert sum(1 for p in records.values() if any(a.type.value == "previous" for a in p.addresses)) > 100


def test_subject_mix_has_about_a_fifth_non_members(subjects, records, households) -> None:
    assert len(subjects) == SUBJECTS
    assert len({s.subject_id for s in subjects}) == SUBJECTS
    non = [s for s in subjects if not s.is_member]
    assert 0.17 <= len(non) / len(subjects) <= 0.23
    kinds = Counter(s.kind for s in subjects)
    for kind in ("member_child", "member_twin", "member_unborn", "member_adult", "nonmember_twin",
                 "nonmember_sibling", "nonmember_parent", "nonmember_household"):
        assert kinds[kind] > 0, kind
    for s in subjects:
        if s.is_member:
            assert s.true_record_id in records and s.source_id == s.true_record_id
        else:
            assert s.source_id not in records  # a real person the agency has never met
    twin_of = {m.record_id: m.twin_of for h in households for m in h.members}
    for s in subjects:
        if s.kind == "nonmember_twin":
            assert twin_of[s.source_id] in records  # the other twin is indexed: the dangerous near-tie


def test_unborn_subjects_come_with_their_mother(subjects, records) -> None:
    unborn = [s for s in subjects if s.kind == "member_unborn"]
    assert unborn
    for s in unborn:
        assert s.person.unborn and s.person.expected_birth_date is not None
        assert s.mother is not None and s.person.mother_person_id == s.mother.person_id
        assert records[s.true_record_id].unborn
        assert abs((s.person.expected_birth_date - records[s.true_record_id].expected_birth_date).days) <= 14
    assert all(s.mother is None for s in subjects if s.kind != "member_unborn")


def test_corruption_labels_say_what_was_done(subjects, records, households) -> None:
    tags = Counter(t for s in subjects for t in s.corruptions)
    for tag in ("given_typo", "given_nickname", "family_typo", "family_hyphenated", "family_changed",
                "dob_swapped_day_month", "dob_one_digit", "postcode_moved", "postcode_missing", "nhs_missing",
                "nhs_mistyped", "nhs_sibling"):
        assert tags[tag] > 0, tag
    assert tags["family_old_name"] + tags["family_old_name_in_history"] > 0
    assert sum(1 for p in records.values() if "-" in (p.names[0].family or "")) > 10  # double-barrelled
    truth_people = {m.record_id: (m, h) for h in households for m in h.members}
    nhs_owner = {m.nhs_number: m for h in households for m in h.members if m.nhs_number}
    for s in subjects:
        if s.kind == "member_unborn":
            continue
        truth, house = truth_people[s.source_id]
        p = s.person
        given = p.names[0].given[0]
        dob = p.birth_date.value if p.birth_date else None
        nhs = _nhs(p)
        if "given_is_twins_name" in s.corruptions:
            assert given == truth_people[truth.twin_of][0].given != truth.given
        if "given_nickname" in s.corruptions:
            assert given in NICKNAMES[truth.given]
        elif "given_phonetic" in s.corruptions:
            assert given in PHONETIC[truth.given]
        elif "given_typo" in s.corruptions:
            assert given.lower() != truth.given.lower()
        else:
            assert given == truth.given
        if "dob_swapped_day_month" in s.corruptions:
            assert dob == date(truth.birth_date.year, truth.birth_date.day, truth.birth_date.month)
        elif "dob_one_digit" in s.corruptions:
            assert dob != truth.birth_date and dob <= SPEC.as_of
        elif "dob_missing" in s.corruptions:
            assert dob is None
        else:
            assert dob == truth.birth_date
        if "postcode_missing" in s.corruptions:
            assert not p.addresses
        elif "postcode_moved" in s.corruptions:
            assert p.addresses[0].postcode not in (house.postcode, house.previous_postcode)
        elif any(t.startswith("postcode_previous") for t in s.corruptions):
            assert p.addresses[0].postcode == house.previous_postcode
        else:
            assert p.addresses[0].postcode == house.postcode
        if "nhs_missing" in s.corruptions:
            assert nhs is None
        elif "nhs_sibling" in s.corruptions:
            sibling = nhs_owner[nhs]
            assert sibling.record_id != truth.record_id and sibling.household_id == truth.household_id
            assert sibling.record_id in records and nhs_number_is_valid(nhs)
        elif "nhs_mistyped" in s.corruptions:
            assert nhs != truth.nhs_number and len(nhs) == 10
        else:
            assert nhs == truth.nhs_number
        if any(t.startswith("family_old_name") for t in s.corruptions):
            assert p.names[0].family == truth.previous_family
        elif "family_hyphenated" in s.corruptions:
            assert truth.family in p.names[0].family.split("-") and "-" in p.names[0].family
        elif "family_part_of_double" in s.corruptions:
            assert p.names[0].family in truth.family.split("-") and "-" in truth.family


def test_files_for_the_match_command_carry_subjects_and_truth_apart(tmp_path) -> None:
    import json

    from mashlink.bench.matching_population import write_files

    spec = PopulationSpec(seed=7, people=800)
    counts = write_files(spec, 80, tmp_path)
    index_lines = (tmp_path / "index.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(index_lines) == counts["people"] >= 800
    assert Person.model_validate_json(index_lines[0]).person_id == "P0000001"
    subject_lines = [json.loads(line) for line in (tmp_path / "subjects.jsonl").read_text().splitlines()]
    truth = [json.loads(line) for line in (tmp_path / "truth.jsonl").read_text().splitlines()]
    assert len(subject_lines) == len(truth) == counts["subjects"] == 80
    for line, label in zip(subject_lines, truth):
        subject = Person.model_validate(line["subject"])
        assert subject.person_id == label["subject_id"]
        assert "true_record_id" not in line["subject"] and "kind" not in line
        if subject.unborn:
            assert Person.model_validate(line["mother"]).person_id == subject.mother_person_id
        else:
            assert line["mother"] is None
        assert all(Person.model_validate(o).person_id.startswith(subject.person_id + "-H") for o in line["others"])


def test_referrals_list_their_household_without_changing_the_subjects(subjects, households) -> None:
    """Each referral lists other born members of the subject's household (never the subject, an unborn
    member, or an unborn subject's mother, who travels as ``mother``); listing does not change the subjects."""
    by_record = {m.record_id: (m, h) for h in households for m in h.members}
    listed = [s for s in subjects if s.others]
    assert len(listed) > 0.6 * len(subjects)
    for s in subjects:
        member, house = by_record[s.source_id]
        born_others = [m for m in house.members if m is not member and m.birth_date is not None
                       and not (s.kind == "member_unborn" and m.record_id == member.mother_id)]
        assert len(s.others) <= len(born_others)
        assert all(not o.unborn for o in s.others)  # a listed date of birth may be missing, as referrals go
        assert [o.person_id for o in s.others] == [f"{s.subject_id}-H{k}" for k in range(1, len(s.others) + 1)]
        for o in s.others:
            number = _nhs(o)
            assert number is None or number.startswith("999")
    none_listed = make_subjects(SPEC, SUBJECTS, listed=0.0)
    assert all(not s.others for s in none_listed)
    assert [s.person.model_dump_json() for s in none_listed] == [s.person.model_dump_json() for s in subjects]
    everyone = make_subjects(SPEC, SUBJECTS, listed=1.0)
    assert sum(map(len, (s.others for s in everyone))) > sum(map(len, (s.others for s in subjects)))
