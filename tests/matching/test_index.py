"""MatchIndex: storage, incremental updates, blocking recall, big blocks, unborn children, households."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from mashlink.matching.blocking import BlockPass
from mashlink.matching.index import (
    DEFAULT_MAX_BLOCK,
    IndexEntry,
    MatchIndex,
    NotAnIndex,
    entries_from_records,
    person_json,
    prepare_json_chunks,
)
from mashlink.matching.model import MatchModel
from mashlink.matching.rules import MatchDecision
from mashlink.schemas.codes import AgencyKind, RelationshipType, Sex
from mashlink.schemas.finding import SourceRef
from mashlink.schemas.person import BirthDate, HumanName, NameUse
from mashlink.schemas.record import AgencyRecord
from mashlink.schemas.relationship import Relationship

from tests.matching.index_people import nhs_id, person, population, renamed


@pytest.fixture()
def people() -> list:
    return population(1500, seed=11)


@pytest.fixture()
def index(tmp_path: Path, people: list) -> MatchIndex:
    idx = MatchIndex.create(tmp_path / "agency.sqlite")
    idx.add_many(people)
    yield idx
    idx.close()


def result_ids(outcome) -> list[str]:
    return [r.record_id for r in outcome.results]


def test_create_add_reopen(tmp_path: Path, people: list) -> None:
    path = tmp_path / "i.sqlite"
    with MatchIndex.create(path) as idx:
        assert len(idx) == 0
        assert idx.add_many(people[:100]) == 100
        assert len(idx) == 100
    with MatchIndex.open(path) as idx:
        assert len(idx) == 100
        assert idx.get("r5") == people[5][1]
        assert idx.get("nope") is None
    with pytest.raises(FileExistsError):
        MatchIndex.create(path)
    with pytest.raises(FileNotFoundError):
        MatchIndex.open(tmp_path / "missing.sqlite")
    other = tmp_path / "other.sqlite"
    other.write_bytes(b"not a database at all" * 100)
    with pytest.raises(NotAnIndex):
        MatchIndex.open(other)


def test_parallel_load_stores_the_same_rows(tmp_path: Path, people: list) -> None:
    with MatchIndex.create(tmp_path / "one.sqlite") as one, MatchIndex.create(tmp_path / "two.sqlite") as two:
        one.add_many(people)
        assert two.add_many(people, workers=2) == len(people) == 1500  # two chunks of work
        query = "SELECT record_id, mother_record_id, household, person, features, keys FROM persons ORDER BY rid"
        assert one._db.execute(query).fetchall() == two._db.execute(query).fetchall()
        blocks = "SELECT key, rid FROM blocks ORDER BY key, rid"
        assert one._db.execute(blocks).fetchall() == two._db.execute(blocks).fetchall()


def test_load_from_an_export_of_person_json_stores_the_same_rows(tmp_path: Path, people: list) -> None:
    """The bench's build path: the index's own person JSON, chunked, prepared in two processes."""
    chunks = [[(rid, p.mother_person_id, person_json(p)) for rid, p in people[i:i + 700]]
              for i in range(0, len(people), 700)]
    with MatchIndex.create(tmp_path / "one.sqlite") as one, MatchIndex.create(tmp_path / "two.sqlite") as two:
        one.add_many(people)
        assert two.add_prepared(prepare_json_chunks(chunks, workers=2)) == len(people)
        query = "SELECT record_id, mother_record_id, household, person, features, keys FROM persons ORDER BY rid"
        assert one._db.execute(query).fetchall() == two._db.execute(query).fetchall()


def test_exact_subject_is_matched(index: MatchIndex, people: list) -> None:
    rid, stored = people[42]
    outcome = index.search(renamed(stored))
    assert result_ids(outcome)[0] == rid
    assert outcome.results[0].pair.probability > 0.5


@pytest.mark.parametrize("corruption", ["family_typo", "swapped_dob", "moved", "dob_wrong_year", "no_postcode"])
def test_blocking_finds_corrupted_subjects(index: MatchIndex, people: list, corruption: str) -> None:
    """Each corruption leaves the right record among the candidates and in the results."""
    found = 0
    for rid, stored in people[:60]:
        name = stored.names[0]
        dob = stored.birth_date.value
        if corruption == "family_typo":
            family = name.family
            subject = renamed(stored, names=[HumanName(given=name.given, family=family[0] + family[2] + family[1]
                                                       + family[3:])])
        elif corruption == "swapped_dob":
            if dob.day > 12 or dob.day == dob.month:
                continue
            subject = renamed(stored, birth_date=BirthDate(value=date(dob.year, dob.day, dob.month)))
        elif corruption == "moved":
            subject = renamed(stored, addresses=[{"lines": ["2 Far Away"], "postcode": "TR1 1AA"}])
        elif corruption == "dob_wrong_year":
            subject = renamed(stored, birth_date=BirthDate(value=date(dob.year - 1 if dob.year > 2005 else 2010,
                                                                      dob.month, min(dob.day, 28))),
                              identifiers=[])
        else:
            subject = renamed(stored, addresses=[])
        found += 1
        assert rid in index.candidates(subject).record_ids, (corruption, rid)
        if corruption != "dob_wrong_year":  # a clearly different date of birth is a veto: found, not shown
            assert rid in result_ids(index.search(subject)), (corruption, rid)
    assert found >= 20


def test_changed_surname_and_no_identifier_found_through_previous_name(tmp_path: Path, people: list) -> None:
    married = person("m1", names=[HumanName(given=["Imogen"], family="Thornbury"),
                                  HumanName(use=NameUse.MAIDEN, given=["Imogen"], family="Kowalski")],
                     dob=date(1990, 6, 2), postcode="LS6 1AB", sex=Sex.FEMALE)
    with MatchIndex.create(tmp_path / "i.sqlite") as idx:
        idx.add_many([*people, ("m1", married)])
        subject = person("s", "Imogen", "Kowalski", dob=date(1990, 6, 2), postcode="BD7 2XY", sex=Sex.FEMALE)
        assert "m1" in result_ids(idx.search(subject))


def test_upsert_replaces_and_remove_deletes(index: MatchIndex, people: list) -> None:
    rid, stored = people[7]
    moved = renamed(stored, pid=stored.person_id, names=[HumanName(given=["Zebedee"], family="Quarrington")],
                    birth_date=BirthDate(value=date(2001, 2, 3)), identifiers=[], addresses=[])
    size = len(index)
    assert index.add_many([(rid, moved)]) == 1
    assert len(index) == size
    assert index.get(rid) == moved
    # the old keys are gone: the old details no longer reach this record by name and date
    old_candidates = index.candidates(renamed(stored, identifiers=[])).record_ids
    assert rid not in old_candidates
    assert rid in index.candidates(renamed(moved)).record_ids
    assert index.remove([rid, "no-such-record"]) == 1
    assert len(index) == size - 1
    assert rid not in index.candidates(renamed(moved)).record_ids
    assert index.remove([rid]) == 0


def test_duplicate_record_id_in_one_bulk_load_keeps_the_last(tmp_path: Path) -> None:
    first = person("x", "Ava", "Begum", dob=date(2012, 1, 5))
    second = person("x", "Ava", "Begum", dob=date(2013, 1, 5))
    with MatchIndex.create(tmp_path / "i.sqlite") as idx:
        assert idx.add_many([("x", first), ("x", second)]) == 2
        assert len(idx) == 1
        assert idx.get("x") == second
        assert "x" not in idx.candidates(renamed(first, names=[HumanName(given=["Qq"], family="Zz")])).record_ids


def test_common_surname_never_drops_the_right_person(tmp_path: Path) -> None:
    """Thousands share the commonest surname and birth year; every one of them is still found."""
    year_mates = []
    for i in range(3000):
        dob = date(2014, 1, 1) + timedelta(days=i % 365)
        given = ("Oliver", "Jack", "Harry", "George", "Noah", "Amelia", "Isla", "Ava", "Mia", "Ivy")[i // 365]
        year_mates.append((f"s{i}", person(f"s{i}", given, "Smith", dob=dob, postcode=f"LS{i % 20 + 1} {i % 9 + 1}AB",
                                           ids=[nhs_id(i * 13)])))
    with MatchIndex.create(tmp_path / "i.sqlite") as idx:
        idx.add_many(year_mates)
        for rid, stored in year_mates[::500]:
            # no NHS number and a moved family: only names and date are left
            subject = renamed(stored, identifiers=[], addresses=[])
            outcome, found = idx.search_with_candidates(subject)
            assert rid in found.record_ids
            # the 3,000-person surname + year block (and the 300-person surname + given name block) are
            # skipped: given name + date covered the subject
            assert BlockPass.FAMILY_YEAR.value in found.keys_skipped
            assert result_ids(outcome)[0] == rid
            idx.max_block = 5000
            _outcome, everything = idx.search_with_candidates(subject)
            assert everything.keys_skipped == [] and len(everything.candidates) >= 3000
            idx.max_block = DEFAULT_MAX_BLOCK


def test_big_block_skipped_only_when_a_more_selective_pass_covers(tmp_path: Path) -> None:
    """A default date of birth shared by many: skipped with a given name to go on, read in full without."""
    default = date(2010, 1, 1)
    crowd = [(f"c{i}", person(f"c{i}", ("Ezra", "Caleb", "Ronan", "Idris", "Kofi")[i % 5] + "x" * (i // 5 % 7),
                              f"Fam{i:04d}", dob=default, postcode=None)) for i in range(400)]
    target = person("t", "Bartosz", "Nowak", dob=default, postcode=None)
    with MatchIndex.create(tmp_path / "i.sqlite") as idx:
        idx.add_many([*crowd, ("t", target)])
        idx.max_block = 100
        with_name = renamed(target, names=[HumanName(given=["Bartosz"], family="Nowakowski")])
        outcome, found = idx.search_with_candidates(with_name)
        assert BlockPass.DOB.value in found.keys_skipped
        assert "t" in found.record_ids
        assert len(found.candidates) < 50  # the crowd was not read
        # nothing more selective than the date: the big block is read in full, however large
        date_only = person("s", None, None, dob=default, postcode=None)
        _outcome, found = idx.search_with_candidates(date_only)
        assert found.keys_skipped == [] and found.big_blocks_read == 1
        assert "t" in found.record_ids and len(found.candidates) == 401


def test_unborn_child_found_through_the_mother(tmp_path: Path, people: list) -> None:
    mum = person("mum", "Aoife", "Murphy", dob=date(1996, 8, 21), postcode="HX2 7QT", sex=Sex.FEMALE)
    unborn = person("baby", None, None, dob=None, postcode="HX2 7QT", sex=None, unborn=True,
                    expected_birth_date=date.today() + timedelta(days=60), mother_person_id="mum")
    with MatchIndex.create(tmp_path / "i.sqlite") as idx:
        idx.add_many([*people, ("mum", mum), ("baby", unborn)])
        referral_mother = person("ref-mum", "Aoife", "Murphy", dob=date(1996, 8, 21), postcode="HX2 7QT",
                                 sex=Sex.FEMALE)
        subject = person("ref-baby", None, None, dob=None, postcode=None, sex=None, unborn=True,
                         expected_birth_date=date.today() + timedelta(days=63), mother_person_id="ref-mum")
        outcome = idx.search(subject, mother=referral_mother)
        assert result_ids(outcome)[:1] == ["baby"]
        assert outcome.outcome is not MatchDecision.NO_MATCH
        # without the mother there is nothing to find an unborn child by
        assert "baby" not in result_ids(idx.search(subject))
        # a mother referred by a nickname and a new surname, since moved, scores low herself; her
        # record is still followed to the child, and the child goes to a person, not unseen
        renamed_mother = person("ref-mum", "Libby", "Kowalski", dob=date(1996, 8, 21), postcode="BD7 1AA",
                                sex=Sex.FEMALE)
        mum_record = renamed(mum, pid="mum", names=[HumanName(given=["Elizabeth"], family="Murphy")])
        idx.add_many([("mum", mum_record)])
        outcome, found = idx.search_with_candidates(subject, mother=renamed_mother)
        assert "baby" in found.record_ids and "baby" in result_ids(outcome)
        assert outcome.outcome is not MatchDecision.MATCH


def test_twins_give_a_candidate_not_a_match(tmp_path: Path, people: list) -> None:
    twin_a = person("ta", "Amelia", "Hughes", dob=date(2016, 9, 3), postcode="YO1 7HH", sex=Sex.FEMALE)
    twin_b = person("tb", "Millie", "Hughes", dob=date(2016, 9, 3), postcode="YO1 7HH", sex=Sex.FEMALE)
    with MatchIndex.create(tmp_path / "i.sqlite") as idx:
        idx.add_many([*people, ("ta", twin_a), ("tb", twin_b)])
        outcome = idx.search(renamed(twin_a))
        assert outcome.outcome is not MatchDecision.MATCH
        assert {"ta", "tb"} <= set(result_ids(outcome))


def test_household_members_are_scored_with_the_candidate(tmp_path: Path, people: list) -> None:
    """A half-sister no blocking pass reaches (other surname, other address) is fetched through the mother."""
    mum = person("mum", "Orla", "Begum", dob=date(1990, 4, 4), postcode="WF1 3PL", sex=Sex.FEMALE)
    child = person("k1", "Rosie", "Thornbury", dob=date(2015, 2, 2), postcode="WF1 3PL", sex=Sex.FEMALE,
                   mother_person_id="mum")
    sister = person("k2", "Willow", "Quarrington", dob=date(2019, 11, 27), postcode="HG1 5AA", sex=Sex.FEMALE,
                    mother_person_id="mum")
    with MatchIndex.create(tmp_path / "i.sqlite") as idx:
        idx.add_many([*people, ("mum", mum), ("k1", child), ("k2", sister)])
        subject = renamed(child, names=[HumanName(given=["Rosie"], family="Thornbry")], mother_person_id=None)
        outcome, found = idx.search_with_candidates(subject)
        by_id = {c.record_id: c for c in found.candidates.values()}
        assert "k1" in by_id and "k2" in by_id
        assert by_id["k2"].passes == {"household"}  # no blocking pass reaches her
        assert result_ids(outcome)[0] == "k1"


def _record(record_id: str, subject, related=(), relationships=()) -> AgencyRecord:
    return AgencyRecord(source=SourceRef(agency_kind=AgencyKind.POLICE, system="Niche", record_id=record_id),
                        person=subject, related_people=list(related), relationships=list(relationships))


def test_entries_link_the_unborn_child_to_its_mother_and_never_copy_a_person() -> None:
    mum = person("P2", "Orla", "Walsh", dob=date(1999, 3, 3), sex=Sex.FEMALE)
    baby = person("P1", None, None, dob=None, sex=None, unborn=True,
                  expected_birth_date=date.today() + timedelta(days=30))
    dad = person("P3", "Ewan", "Walsh", dob=date(1995, 1, 9))
    mother_of = Relationship(from_person_id="P2", to_person_id="P1", type=RelationshipType.MOTHER)
    # a police export: every person is a record of their own and related to the others
    records = [_record("N-77", baby, [mum, dad], [mother_of]), _record("N-78", mum, [baby]),
               _record("N-79", dad, [baby])]
    entries = {e.record_id: e for e in entries_from_records(records)}
    assert set(entries) == {"N-77", "N-78", "N-79"}
    assert entries["N-77"].mother_record_id == "N-78"
    assert all(isinstance(e, IndexEntry) for e in entries.values())
    # a health record: the mother is only known as a related person, under the record's id
    health = [_record("H-1", baby, [mum], [mother_of])]
    entries = {e.record_id: e for e in entries_from_records(health)}
    assert set(entries) == {"H-1", "H-1/P2"}
    assert entries["H-1"].mother_record_id == "H-1/P2"


def test_train_stores_model_and_term_frequencies(tmp_path: Path, people: list) -> None:
    path = tmp_path / "i.sqlite"
    with MatchIndex.create(path) as idx:
        idx.add_many(people)
        assert not idx.trained
        model = idx.train(sample_records=300, random_pairs=5000)
        assert idx.trained
        assert model.trained_on > 0
        assert model != MatchModel.default()  # u measured on this index
        report = idx.training_report()
        assert report["random_pairs"] == 5000 and report["blocked_pairs"] > 0
        # 1,500 different people: no duplicates for EM to learn m from, so the default m is kept
        assert report["em_m_kept"] is False
        assert model.fields["given"]["exact"].m == MatchModel.default().fields["given"]["exact"].m
        assert idx.train(sample_records=300, random_pairs=5000) == model  # deterministic
        assert model.prior == pytest.approx(1 / len(people))  # u over random pairs, so the prior is too
    with MatchIndex.open(path) as idx:
        assert idx.model == model
        assert idx.term_frequencies is not None
        assert idx.term_frequencies.count("family", "smith") > 0
        rid, stored = people[3]
        assert result_ids(idx.search(renamed(stored)))[0] == rid


def test_a_tiny_index_keeps_the_default_weights(tmp_path: Path, people: list) -> None:
    with MatchIndex.create(tmp_path / "i.sqlite") as idx:
        idx.add_many(people[:50])
        model = idx.train()
        assert model.fields == MatchModel.default().fields and model.prior == MatchModel.default().prior
        assert idx.training_report()["random_pairs"] == 0
        assert idx.term_frequencies.total("family") == 50


def test_features_of_another_layout_are_recomputed_from_the_person(tmp_path: Path, people: list) -> None:
    """An index written before the scorer's features changed shape still searches correctly."""
    import sqlite3

    path = tmp_path / "i.sqlite"
    with MatchIndex.create(path) as idx:
        idx.add_many(people[:200])
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value='[[\"older\",\"layout\"]]' WHERE name='features_layout'")
    db.execute("UPDATE persons SET features='[1,2,3]'")  # unreadable under today's layout
    db.commit()
    db.close()
    with MatchIndex.open(path) as idx:
        rid, stored = people[17]
        outcome = idx.search(renamed(stored))
        assert result_ids(outcome)[0] == rid and outcome.outcome is MatchDecision.MATCH


def test_the_referrals_household_resolves_twins(tmp_path: Path, people: list) -> None:
    """Twins Amelia and Millie both known: Amelia's referral lists Millie, so Amelia is linked, Millie not shown;
    Millie's own search with Amelia listed is not offered Amelia's record."""
    twin_a = person("ta", "Amelia", "Hughes", dob=date(2016, 9, 3), postcode="YO1 7HH", sex=Sex.FEMALE)
    twin_b = person("tb", "Millie", "Hughes", dob=date(2016, 9, 3), postcode="YO1 7HH", sex=Sex.FEMALE)
    listed_b = renamed(twin_b, pid="ref-b")
    with MatchIndex.create(tmp_path / "i.sqlite") as idx:
        idx.add_many([*people, ("ta", twin_a)])
        never_met = idx.search(listed_b)  # Millie, whom this agency never met
        assert never_met.outcome is MatchDecision.CANDIDATE and result_ids(never_met) == ["ta"]
        with_household = idx.search(listed_b, others=[renamed(twin_a, pid="ref-a")])
        assert with_household.outcome is MatchDecision.NO_MATCH and result_ids(with_household) == []

        idx.add_many([("tb", twin_b)])
        subject = renamed(twin_a, pid="ref-a")
        assert idx.search(subject).outcome is MatchDecision.CANDIDATE
        outcome = idx.search(subject, others=[listed_b, subject])  # the subject itself in the list is ignored
        assert outcome.outcome is MatchDecision.MATCH and result_ids(outcome) == ["ta"]


def test_a_record_two_referral_people_fit_goes_to_a_person(tmp_path: Path, people: list) -> None:
    """Theodore, never met, referred as "Theo" (his twin's registered name) with the twin also listed."""
    theo = person("theo", "Theo", "Hughes", dob=date(2018, 1, 20), postcode="YO1 7HH")
    referral = person("ref-a", "Theo", "Hughes", dob=date(2018, 1, 20), postcode="YO1 7HH", ids=[nhs_id(5150)])
    co_twin = person("ref-b", "Theo", "Hughes", dob=date(2018, 1, 20), postcode="YO1 7HH")
    with MatchIndex.create(tmp_path / "i.sqlite") as idx:
        idx.add_many([*people, ("theo", theo)])
        assert idx.search(referral).outcome is MatchDecision.MATCH  # alone, nothing tells them apart
        outcome = idx.search(referral, others=[co_twin])
        assert outcome.outcome is MatchDecision.CANDIDATE and outcome.reasons == ["referral_person_also_fits"]
