"""``mashlink match index build`` and ``mashlink match search`` end to end (typer CliRunner, real files)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from typer.testing import CliRunner

from mashlink.matching.index import MatchIndex
from mashlink.ops.cli import app
from mashlink.schemas.codes import Sex

from tests.matching.index_people import person, population, renamed

POLE_EXAMPLE = Path(__file__).resolve().parents[2] / "connectors" / "police" / "schema" / "examples" / \
    "pole-example.json"


def run(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_build_from_person_jsonl_then_search(tmp_path: Path) -> None:
    people = population(300, seed=3)
    mum = person("mum-1", "Aoife", "Murphy", dob=date(1996, 8, 21), postcode="HX2 7QT", sex=Sex.FEMALE)
    baby = person("baby-1", None, None, dob=None, postcode=None, sex=None, unborn=True,
                  expected_birth_date=date.today() + timedelta(days=50), mother_person_id="mum-1")
    export = write_jsonl(tmp_path / "people.jsonl",
                         [p.model_dump_json() for _r, p in people] + [mum.model_dump_json(), baby.model_dump_json()])
    db = tmp_path / "agency.sqlite"
    built = run("match", "index", "build", "person-jsonl", str(export), "--db", str(db), "--json")
    assert built.exit_code == 0, built.output
    assert built.stdout == ""  # summaries and logs go to stderr
    summary = json.loads(built.stderr.strip().splitlines()[-1])
    assert summary["written"] == 302 and summary["people"] == 302 and summary["trained"] is True

    rid, stored = people[10]
    ref_mum = person("ref-mum", "Aoife", "Murphy", dob=date(1996, 8, 21), postcode="HX2 7QT", sex=Sex.FEMALE)
    ref_baby = person("ref-baby", None, None, dob=None, postcode=None, sex=None, unborn=True,
                      expected_birth_date=date.today() + timedelta(days=52), mother_person_id="ref-mum")
    subjects = write_jsonl(tmp_path / "subjects.jsonl", [
        renamed(stored, pid="s-exact").model_dump_json(),
        '{"person_id": "s-bad", "names": [{"given": ["Ann"]}], "birth_date": {"value": "not-a-date"}}',
        "this is not json",
        json.dumps({"subject": json.loads(ref_baby.model_dump_json()), "mother": json.loads(ref_mum.model_dump_json())}),
        ref_baby.model_copy(update={"person_id": "ref-baby-2"}).model_dump_json(),
        ref_mum.model_dump_json(),
        person("nobody", "Quentin", "Zzyzx", dob=date(1950, 1, 1), postcode="TR1 1AA").model_dump_json(),
    ])
    searched = run("match", "search", "--db", str(db), str(subjects))
    assert searched.exit_code == 1  # two bad lines
    assert "line 2: rejected: field birth_date.value" in searched.stderr
    assert "line 3: not JSON" in searched.stderr
    lines = [json.loads(x) for x in searched.stdout.splitlines()]
    by_subject = {x["subject_id"]: x for x in lines}
    assert list(by_subject) == ["s-exact", "ref-baby", "ref-baby-2", "ref-mum", "nobody"]
    exact = by_subject["s-exact"]
    assert exact["outcome"] == "match"
    assert exact["results"][0]["record_id"] == rid
    first = exact["results"][0]
    assert set(first) >= {"record_id", "probability", "decision", "contributions"}
    assert first["decision"] == "match" and 0.0 <= first["probability"] <= 1.0
    assert {"given", "family", "dob"} <= set(first["contributions"])
    # the unborn child is found through its mother, given on the line or on another line
    assert by_subject["ref-baby"]["results"][0]["record_id"] == "baby-1"
    assert by_subject["ref-baby-2"]["results"][0]["record_id"] == "baby-1"
    assert by_subject["ref-mum"]["results"][0]["record_id"] == "mum-1"
    assert by_subject["nobody"] == {"subject_id": "nobody", "outcome": "no_match", "results": [],
                                    "reasons": by_subject["nobody"]["reasons"]}
    assert "5 subject(s) searched" in searched.stderr


def test_rebuild_upserts_and_remove_missing_prunes(tmp_path: Path) -> None:
    people = population(50, seed=5)
    db = tmp_path / "i.sqlite"
    first = write_jsonl(tmp_path / "a.jsonl", [p.model_dump_json() for _r, p in people])
    assert run("match", "index", "build", "person-jsonl", str(first), "--db", str(db), "--no-train").exit_code == 0
    # the reload: one person changed, ten gone, one bad line
    changed = renamed(people[0][1], pid=people[0][0], names=[{"given": ["Zebedee"], "family": "Quarrington"}])
    second = write_jsonl(tmp_path / "b.jsonl", [changed.model_dump_json(),
                                                *(p.model_dump_json() for _r, p in people[1:40]),
                                                '{"person_id": ""}'])
    result = run("match", "index", "build", "person-jsonl", str(second), "--db", str(db), "--remove-missing",
                 "--no-train")
    assert result.exit_code == 1  # the bad line is reported, the rest loaded
    assert "line 41: rejected: field person_id" in result.stderr
    assert "40 person record(s) written, 1 rejected, 10 removed; 40 in the index (was 50)" in result.stderr
    with MatchIndex.open(db) as idx:
        assert len(idx) == 40
        assert idx.get(people[0][0]).names[0].given == ["Zebedee"]
        assert idx.get(people[45][0]) is None


def test_build_from_a_translate_format(tmp_path: Path) -> None:
    """A police POLE export: each person once (no copies from the related-people lists)."""
    db = tmp_path / "police.sqlite"
    result = run("match", "index", "build", "pole", str(POLE_EXAMPLE), "--db", str(db))
    assert result.exit_code == 0, result.stderr
    with MatchIndex.open(db) as idx:
        ids = sorted(idx.record_ids())
        assert ids == ["ZZP0000101", "ZZP0000102", "ZZP0000103"]
        subject = idx.get("ZZP0000101")
    subjects = write_jsonl(tmp_path / "s.jsonl", [subject.model_copy(update={"person_id": "q1"}).model_dump_json()])
    searched = run("match", "search", "--db", str(db), str(subjects))
    assert searched.exit_code == 0
    line = json.loads(searched.stdout)
    assert line["outcome"] == "match" and line["results"][0]["record_id"] == "ZZP0000101"


def test_policy_file_sets_the_agency_thresholds(tmp_path: Path) -> None:
    export = write_jsonl(tmp_path / "p.jsonl", [p.model_dump_json() for _r, p in population(20, seed=9)])
    policy = tmp_path / "policy.yaml"
    policy.write_text("matching:\n  max_false_match_rate: 0.001\n  review: 0.2\n", encoding="utf-8")
    db = tmp_path / "i.sqlite"
    assert run("match", "index", "build", "person-jsonl", str(export), "--db", str(db), "--policy",
               str(policy)).exit_code == 0
    with MatchIndex.open(db) as idx:
        assert idx.policy.auto_match == 0.999 and idx.policy.review == 0.2
    policy.write_text("matching:\n  review: 2\n", encoding="utf-8")
    result = run("match", "index", "build", "person-jsonl", str(export), "--db", str(db), "--policy", str(policy))
    assert result.exit_code == 2 and "field review" in result.stderr


def test_unknown_format_and_missing_index_are_clear_errors(tmp_path: Path) -> None:
    export = write_jsonl(tmp_path / "x.jsonl", ["{}"])
    result = run("match", "index", "build", "no-such-format", str(export), "--db", str(tmp_path / "i.sqlite"))
    assert result.exit_code == 2 and "unknown format 'no-such-format'" in result.stderr
    assert "person-jsonl" in result.stderr
    assert not (tmp_path / "i.sqlite").exists()
    result = run("match", "search", "--db", str(tmp_path / "missing.sqlite"), str(export))
    assert result.exit_code == 2 and "no match index at" in result.stderr


def test_search_takes_the_referrals_other_people(tmp_path: Path) -> None:
    """``{"subject", "others"}``: a record the listed co-twin plainly is is not offered; a bad other is named."""
    people = population(300, seed=5)
    twin = person("rec-amelia", "Amelia", "Okafor", dob=date(2016, 9, 3), postcode="YO1 7HH", sex=Sex.FEMALE)
    export = write_jsonl(tmp_path / "people.jsonl", [p.model_dump_json() for _r, p in people] + [twin.model_dump_json()])
    db = tmp_path / "agency.sqlite"
    assert run("match", "index", "build", "person-jsonl", str(export), "--db", str(db)).exit_code == 0

    millie = json.loads(person("s-millie", "Millie", "Okafor", dob=date(2016, 9, 3), postcode="YO1 7HH",
                               sex=Sex.FEMALE).model_dump_json())
    amelia = json.loads(person("s-amelia", "Amelia", "Okafor", dob=date(2016, 9, 3), postcode="YO1 7HH",
                               sex=Sex.FEMALE).model_dump_json())
    subjects = write_jsonl(tmp_path / "subjects.jsonl", [
        json.dumps({"subject": millie}),
        json.dumps({"subject": {**millie, "person_id": "s-millie-2"}, "others": [amelia]}),
        json.dumps({"subject": {**millie, "person_id": "s-bad"}, "others": [amelia, {"person_id": ""}]}),
        json.dumps({"subject": {**millie, "person_id": "s-bad-2"}, "others": amelia}),
        json.dumps({"subject": {**millie, "person_id": "s-bad-3"}, "others": ""}),
    ])
    searched = run("match", "search", "--db", str(db), str(subjects))
    assert searched.exit_code == 1
    assert "line 3: rejected: others[1]: field person_id" in searched.stderr
    assert "line 4: field others: must be a list of Person objects, not dict (rule list_type)" in searched.stderr
    assert "line 5: field others: must be a list of Person objects, not str (rule list_type)" in searched.stderr
    by_subject = {x["subject_id"]: x for x in map(json.loads, searched.stdout.splitlines())}
    assert list(by_subject) == ["s-millie", "s-millie-2"]
    assert by_subject["s-millie"]["outcome"] == "candidate"
    assert [r["record_id"] for r in by_subject["s-millie"]["results"]] == ["rec-amelia"]
    assert by_subject["s-millie-2"] == {"subject_id": "s-millie-2", "outcome": "no_match", "results": [],
                                        "reasons": ["no_candidate_above_review"]}
