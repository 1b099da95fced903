"""``mashlink dropfolder``: ops list parked files with their reasons and replay one into the inbox."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mashlink.connectors.files import DropFolder, FileRejection
from mashlink.ops.cli import app


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["dropfolder", *args])
    return result.exit_code, result.stdout, result.stderr


def _ctf_share(tmp_path: Path) -> DropFolder:
    folder = DropFolder(tmp_path / "ctf", inbox_name="incoming")
    for name in ("pupils.xml", "late.xml"):
        (folder.inbox / name).write_bytes(b"<CTfile><broken")
    folder.park(folder.inbox / "pupils.xml", FileRejection(rule="not_well_formed", field="CTfile",
                                                          position="line 1 column 16", problems=["a", "b"]))
    folder.park(folder.inbox / "late.xml", FileRejection(rule="stale_census", detail="census date too old"))
    return folder


def test_list_shows_each_parked_file_with_its_reason(tmp_path: Path) -> None:
    _ctf_share(tmp_path)
    code, out, _ = _run("list", str(tmp_path / "ctf"))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("late.xml: stale_census: census date too old at ")
    assert lines[1].startswith("pupils.xml: not_well_formed (CTfile, line 1 column 16) [2 problem(s)] at ")
    assert lines[2] == f"2 file(s) parked in {tmp_path / 'ctf' / 'failed'}"
    code, out, _ = _run("list", str(tmp_path / "ctf"), "--json")
    listed = json.loads(out)["parked"]
    assert [(r["name"], r["rule"], r["problems"], r["bytes"]) for r in listed] == [
        ("late.xml", "stale_census", 0, 15), ("pupils.xml", "not_well_formed", 2, 15)]


def test_replay_puts_the_file_back_into_the_inbox_and_drops_its_reason(tmp_path: Path) -> None:
    folder = _ctf_share(tmp_path)
    code, out, _ = _run("replay", str(tmp_path / "ctf"), "pupils.xml")
    assert code == 0 and out.strip() == f"replayed pupils.xml into {folder.inbox / 'pupils.xml'}"
    assert folder.waiting() == [folder.inbox / "pupils.xml"]
    assert sorted(p.name for p in folder.failed.iterdir()) == ["late.xml", "late.xml.reason.txt"]
    assert _run("list", str(tmp_path / "ctf"))[1].splitlines()[-1].startswith("1 file(s) parked")


def test_replaying_an_unknown_name_fails_naming_what_is_parked(tmp_path: Path) -> None:
    folder = _ctf_share(tmp_path)
    code, _, err = _run("replay", str(tmp_path / "ctf"), "nope.xml")
    assert code == 1
    assert "failed/nope.xml: no parked file of that name; parked: late.xml, pupils.xml" in err
    assert len(folder.parked()) == 2 and folder.waiting() == []
    code, _, err = _run("replay", str(tmp_path / "ctf"), "pupils.xml.reason.txt")  # a reason file is not a file
    assert code == 1 and (folder.failed / "pupils.xml.reason.txt").exists()


def test_social_care_rejected_files_replay_into_an_inbox_elsewhere(tmp_path: Path) -> None:
    state, sftp = tmp_path / "state", tmp_path / "sftp"
    folder = DropFolder(state, inbox_dir=sftp, failed_name="rejected")
    (sftp / "cin.xml").write_text("<Message/>")
    folder.park(sftp / "cin.xml", FileRejection(rule="format_not_recognised"))
    code, _, err = _run("replay", str(state), "cin.xml")
    assert code == 2 and "give --inbox" in err and (state / "rejected" / "cin.xml").exists()
    code, out, _ = _run("replay", str(state), "cin.xml", "--inbox", str(sftp))
    assert code == 0 and (sftp / "cin.xml").read_text() == "<Message/>"


def test_a_path_that_is_not_a_drop_folder_is_refused_and_left_untouched(tmp_path: Path) -> None:
    code, _, err = _run("list", str(tmp_path / "typo"))
    assert code == 2 and "is not a drop folder (no failed/ or rejected/ in it)" in err
    assert not (tmp_path / "typo").exists()


def test_answers_parked_before_the_upgrade_are_listed_with_their_json_reason_and_replay(tmp_path: Path) -> None:
    """Model 3 parked answers with a JSON ``NAME.reason`` before reason files became ``NAME.reason.txt``."""
    folder = DropFolder(tmp_path / "police", suffixes=(".json",))
    (folder.failed / "bad-status.json").write_text('{"status": "maybe"}')
    (folder.failed / "bad-status.json.reason").write_text(json.dumps({
        "file": "bad-status.json", "field": "$.status", "rule": "enum", "message": "not an allowed status",
        "position": None, "failed_at": "2026-11-30T09:00:00+00:00"}, indent=2) + "\n")

    code, out, _ = _run("list", str(tmp_path / "police"))
    assert code == 0
    assert out.splitlines() == ["bad-status.json: enum ($.status): not an allowed status at 2026-11-30T09:00:00+00:00",
                                f"1 file(s) parked in {folder.failed}"]
    code, _, err = _run("replay", str(tmp_path / "police"), "bad-status.json.reason")
    assert code == 1 and "parked: bad-status.json" in err and (folder.failed / "bad-status.json.reason").exists()
    code, _, _ = _run("replay", str(tmp_path / "police"), "bad-status.json")
    assert code == 0 and folder.waiting() == [folder.inbox / "bad-status.json"]
    assert list(folder.failed.iterdir()) == []  # its old reason went with it
