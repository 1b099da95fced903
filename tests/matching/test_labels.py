"""Review decisions become labels: the hub exports them per agency, the agency's index re-weights with them."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from mashlink.hub.match_review import review_labels
from mashlink.hub.models import Base, MatchDecisionRow, ReferralRow
from mashlink.matching.index import MatchIndex
from mashlink.matching.labels import ReviewLabel
from mashlink.ops.cli import app
from mashlink.schemas.person import HumanName

from tests.hub.hub_support import referral_data
from tests.matching.index_people import population, renamed

#: Given names of tests.matching.index_people's population and a nickname of each.
NICKNAMES = {"Oliver": "Ollie", "Jacob": "Jake", "Amelia": "Millie", "Florence": "Flo", "Muhammad": "Mo"}


@pytest.fixture()
def trained(tmp_path: Path) -> tuple[Path, list]:
    people = population(1500, seed=5)
    path = tmp_path / "agency.sqlite"
    with MatchIndex.create(path) as index:
        index.add_many(people)
        index.train()
    return path, people


def nickname_labels(people: list, *, confirmed: bool = True, limit: int = 40) -> list[ReviewLabel]:
    """Subjects referred by a nickname of the record's given name: what reviewers confirm every day."""
    out = []
    for n, (rid, record) in enumerate(people):
        given = record.names[0].given[0] if record.names and record.names[0].given else None
        short = NICKNAMES.get(given or "")
        if short is None:
            continue
        name = record.names[0]
        subject = renamed(record, pid=f"s{n}", names=[HumanName(given=[short], family=name.family)])
        out.append(ReviewLabel(subject=subject, agency_id="health-1", record_id=rid, confirmed=confirmed))
        if len(out) >= limit:
            break
    return out


def given_weight(index: MatchIndex, level: str) -> float:
    return index.model.weights()["given"][level]


def given_m(index: MatchIndex, level: str) -> float:
    """How often the level is seen among true matches (a nickname's weight is capped at exact's)."""
    return index.model.fields["given"][level].m


def test_confirmed_nickname_decisions_move_the_nickname_m_and_persist(trained: tuple[Path, list]) -> None:
    path, people = trained
    labels = nickname_labels(people)
    assert len(labels) >= 10, "the synthetic population has too few nicknamed names for this test"
    with MatchIndex.open(path) as index:
        before = given_m(index, "nickname")
        report = index.train_from_labels(labels)
        after = given_m(index, "nickname")
        assert report.confirmed == len(labels) and report.rejected == 0 and report.unknown_records == []
        assert after > 3 * before  # people confirmed nicknamed pairs: a nickname is common among true matches
    with MatchIndex.open(path) as index:  # stored with the index, used by its searches
        assert given_m(index, "nickname") == pytest.approx(after)
        assert index.scorer().model.fields["given"]["nickname"].m == pytest.approx(after)
        assert index.training_report()["labels"] == {"confirmed": len(labels), "rejected": 0}


def test_rejected_decisions_lower_the_weight_of_what_was_rejected(trained: tuple[Path, list]) -> None:
    path, people = trained
    labels = nickname_labels(people, confirmed=False)
    with MatchIndex.open(path) as index:
        before = given_weight(index, "nickname")
        index.train_from_labels(labels)
        assert given_weight(index, "nickname") < before - 0.2


def test_labels_never_weaken_full_agreement(trained: tuple[Path, list]) -> None:
    """Reviewed pairs are the doubtful ones: confirmed nicknames and rejected look-alikes that agree on
    family name and date of birth must not take weight from exact agreement (which links the rest)."""
    path, people = trained
    confirmed = nickname_labels(people)
    rejected = []
    for n, (rid, record) in enumerate(people[:60]):  # a twin-like look-alike: all agrees but the given name
        name = record.names[0]
        rejected.append(ReviewLabel(subject=renamed(record, pid=f"r{n}", names=[HumanName(
            given=["Zebedee"], family=name.family)]), agency_id="health-1", record_id=rid, confirmed=False))
    with MatchIndex.open(path) as index:
        before = index.model.weights()
        index.train_from_labels([*confirmed, *rejected])
        after = index.model.weights()
    for field, best in (("given", "exact"), ("family", "exact"), ("dob", "exact"), ("postcode", "full_or_uprn")):
        assert after[field][best] == pytest.approx(before[field][best], abs=1e-6), field
    assert after["given"]["nickname"] > before["given"]["nickname"]
    assert after["given"]["different"] < before["given"]["different"] + 1e-9


def test_labels_naming_no_record_are_reported_and_none_at_all_is_an_error(trained: tuple[Path, list]) -> None:
    path, people = trained
    labels = nickname_labels(people, limit=3)
    ghost = labels[0].model_copy(update={"record_id": "no-such-record"})
    with MatchIndex.open(path) as index:
        report = index.train_from_labels([*labels, ghost])
        assert report.unknown_records == ["label 4: record_id 'no-such-record' is not in this index"]
        with pytest.raises(ValueError, match="no label names a record in this index"):
            index.train_from_labels([ghost])


def _referral_row(referral_id: str) -> ReferralRow:
    now = datetime(2025, 6, 2, 8, 30, tzinfo=timezone.utc)
    return ReferralRow(referral_id=referral_id, received_at=now, submitted_at=now, local_authority="999",
                       rag="amber", status="open", submitted_by="test", body=referral_data(referral_id))


def _decision(referral_id: str, subject: str, agency: str, record: str, confirmed: bool, n: int,
              superseded_by: int | None = None) -> MatchDecisionRow:
    return MatchDecisionRow(id=n, referral_id=referral_id, subject_person_id=subject, agency_id=agency,
                            source_system="SYS", record_id=record, confirmed=confirmed, reason="checked",
                            decided_by="reviewer", decided_at=datetime(2025, 6, 3, tzinfo=timezone.utc),
                            superseded_by=superseded_by)


def test_hub_exports_the_current_decisions_of_one_agency_as_labels() -> None:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([_referral_row("REF-1"), _referral_row("REF-2")])
        session.flush()
        session.add_all([
            _decision("REF-1", "c1", "health-1", "H-9", False, 1, superseded_by=2),  # changed mind: counts once
            _decision("REF-1", "c1", "health-1", "H-9", True, 2),
            _decision("REF-1", "u1", "health-1", "H-10", True, 3),  # unborn: the mother comes with it
            _decision("REF-2", "c1", "police-1", "P-1", False, 4),  # another agency's decision
            _decision("REF-2", "c1", "health-1", "H-11", False, 5),
        ])
        session.commit()
        labels = review_labels(session, "health-1")
    assert [(lb.record_id, lb.confirmed) for lb in labels] == [("H-9", True), ("H-10", True), ("H-11", False)]
    assert labels[0].subject.person_id == "c1" and labels[0].subject.names[0].given == ["Ada"]
    assert labels[0].mother is None
    assert labels[1].subject.unborn and labels[1].mother is not None and labels[1].mother.person_id == "m1"
    assert {lb.agency_id for lb in labels} == {"health-1"}


def test_match_train_command_moves_the_weights_and_names_a_bad_line(trained: tuple[Path, list],
                                                                   tmp_path: Path) -> None:
    path, people = trained
    labels_file = tmp_path / "labels.jsonl"
    labels_file.write_text("".join(lb.model_dump_json() + "\n" for lb in nickname_labels(people)),
                           encoding="utf-8")
    with MatchIndex.open(path) as index:
        before = given_m(index, "nickname")
    result = CliRunner().invoke(app, ["match", "train", "--db", str(path), "--labels", str(labels_file), "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    assert summary["confirmed"] > 0 and summary["rejected"] == 0
    with MatchIndex.open(path) as index:
        assert given_m(index, "nickname") > 3 * before

    bad = tmp_path / "bad.jsonl"
    bad.write_text(labels_file.read_text(encoding="utf-8").splitlines()[0] + "\n"
                   + '{"subject": {"person_id": "x"}, "agency_id": "health-1", "confirmed": true}\n',
                   encoding="utf-8")
    result = CliRunner().invoke(app, ["match", "train", "--db", str(path), "--labels", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:2: not a review label" in result.stderr and "record_id" in result.stderr


def _hub_with_decisions(tmp_path: Path) -> dict[str, str]:
    """A sqlite hub (schema made by the hub itself) holding two decisions on health-1's records."""
    from mashlink.config.settings import load_settings
    from mashlink.hub.service import HubService

    env = {"MASHLINK_STATE_DIR": str(tmp_path / "state"),
           "MASHLINK_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.sqlite'}", "MASHLINK_BROKER_URL": "memory://"}
    HubService.open(load_settings(state_dir=env["MASHLINK_STATE_DIR"], database_url=env["MASHLINK_DATABASE_URL"],
                                  broker_url="memory://")).close()
    engine = create_engine(env["MASHLINK_DATABASE_URL"])
    with Session(engine) as session:
        session.add(_referral_row("REF-1"))
        session.flush()
        session.add_all([_decision("REF-1", "c1", "health-1", "H-9", True, 1),
                         _decision("REF-1", "u1", "health-1", "H-10", False, 2)])
        session.commit()
    engine.dispose()
    return env


def test_match_labels_out_is_private_and_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file holds names, birth dates and mothers: mode 0600, and a failed write leaves no partial file."""
    env = _hub_with_decisions(tmp_path)
    out = tmp_path / "exports" / "labels.jsonl"
    args = ["match", "labels", "--agency", "health-1", "--out", str(out)]
    result = CliRunner().invoke(app, args, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o777 == 0o600
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [(ReviewLabel.model_validate_json(line).record_id, ReviewLabel.model_validate_json(line).confirmed)
            for line in lines] == [("H-9", True), ("H-10", False)]

    # The disk fills while the next export is written: the earlier file is untouched, no temporary is left.
    before = out.read_bytes()
    out.chmod(0o644)  # even a file loosened by hand is replaced by a private one on the next good export

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr("mashlink.config.atomic_files.os.fsync", disk_full)
        failed = CliRunner().invoke(app, args, env=env)
    assert failed.exit_code == 1
    assert f"error: cannot write {out}: No space left on device" in failed.stderr
    assert out.read_bytes() == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["labels.jsonl"]

    fresh = tmp_path / "fresh.jsonl"
    with monkeypatch.context() as patched:
        patched.setattr("mashlink.config.atomic_files.os.fsync", disk_full)
        assert CliRunner().invoke(app, [*args[:-1], str(fresh)], env=env).exit_code == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".fresh", "fresh"))) == []

    assert CliRunner().invoke(app, args, env=env).exit_code == 0
    assert out.stat().st_mode & 0o777 == 0o600
